"""The command line: exit codes, the JSON contract, annotation, listings."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from facesift.cli import app
from facesift.samples import DemoCase

runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, demo: DemoCase) -> Path:
    ws = tmp_path_factory.mktemp("ws")
    result = runner.invoke(
        app, ["-w", str(ws), "enroll", str(demo.gallery), "--meta", str(demo.metadata)]
    )
    assert result.exit_code == 0, result.output
    assert "2 of 2 photos in the gallery" in result.output
    result = runner.invoke(app, ["-w", str(ws), "scan", str(demo.evidence), "--case", "demo"])
    assert result.exit_code == 3, result.output  # the demo's fake photo failed: exit status 3
    assert "7 faces found" in result.output and "notes.txt.jpg" in result.output
    return ws


def _json(args: list[str]) -> dict:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_search_json_contract(workspace: Path, demo: DemoCase, tmp_path: Path) -> None:
    out = tmp_path / "annotated.jpg"
    data = _json(
        [
            "-w",
            str(workspace),
            "search",
            str(demo.scene),
            "--json",
            "--top",
            "2",
            "--annotate",
            str(out),
        ]
    )
    assert len(data["faces"]) == 3
    for face in data["faces"]:
        assert len(face["bbox"]) == 4
        scores = [c["score"] for c in face["candidates"]]
        assert scores == sorted(scores, reverse=True) and len(scores) == 2
        assert all(isinstance(c["person"], str) for c in face["candidates"])
    people = {
        f["candidates"][0]["person"] for f in data["faces"] if f["candidates"][0]["above_threshold"]
    }
    assert people == {"Grace Hopper", "Eileen Collins"}
    # Calibrated evidence: the two matches are strong, the stranger's best candidate is weak.
    assert data["decision"]["calibrated"] is True
    assert data["decision"]["calibration"]["impostor_pairs"] > 1_000_000
    bands = sorted(f["candidates"][0]["band"] for f in data["faces"])
    assert bands == ["strong", "strong", "weak"]
    for face in data["faces"]:
        best = face["candidates"][0]
        assert 0 < best["fmr"] <= 1 and (best["fmr"] <= 1e-3) == (best["band"] == "strong")
    annotated = Image.open(out)
    assert annotated.size == (1400, 800)


def test_verify_json_contract(workspace: Path, demo: DemoCase) -> None:
    hopper = demo.gallery / "Grace Hopper" / "portrait.png"
    same = _json(
        [
            "-w",
            str(workspace),
            "verify",
            str(hopper),
            str(demo.evidence / "hopper_blurred.webp"),
            "--json",
        ]
    )
    assert same["same_person"] is True and isinstance(same["score"], float)
    diff = _json(
        [
            "-w",
            str(workspace),
            "verify",
            str(hopper),
            str(demo.gallery / "Eileen Collins" / "portrait.png"),
            "--json",
        ]
    )
    assert diff["same_person"] is False and diff["score"] < same["score"]


def test_verify_without_a_face_fails_clearly(workspace: Path, demo: DemoCase) -> None:
    result = runner.invoke(
        app,
        ["-w", str(workspace), "verify", str(demo.evidence / "empty_wall.png"), str(demo.scene)],
    )
    assert result.exit_code == 1
    assert "no face found in image A" in result.output


def test_identify_csv_and_json(workspace: Path) -> None:
    data = _json(["-w", str(workspace), "identify", "--case", "demo", "--json", "--top", "1"])
    assert len(data["faces"]) == 7
    result = runner.invoke(
        app, ["-w", str(workspace), "identify", "--case", "demo", "--csv", "--top", "1"]
    )
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("face_id,path,sha256") and len(lines) == 8


def test_listings(workspace: Path) -> None:
    people = _json(["-w", str(workspace), "people", "--json"])
    assert {p["name"]: p["attributes"]["role"] for p in people} == {
        "Grace Hopper": "Rear Admiral (US Navy)",
        "Eileen Collins": "Astronaut (NASA)",
    }
    media = _json(["-w", str(workspace), "media", "--case", "demo", "--json"])
    assert len(media) == 5 and sum(m["status"] == "error" for m in media) == 1
    faces = _json(["-w", str(workspace), "faces", "--person", "Grace Hopper", "--json"])
    assert len(faces) == 1 and faces[0]["person"] == "Grace Hopper"
    for command in ("people", "media", "faces"):
        assert runner.invoke(app, ["-w", str(workspace), command]).exit_code == 0


def test_workspace_from_environment(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FACESIFT_WORKSPACE", str(workspace))
    assert len(_json(["people", "--json"])) == 2


def test_enrol_single_photos_and_failures(tmp_path: Path, demo: DemoCase) -> None:
    ws = str(tmp_path / "ws")
    ok = runner.invoke(
        app,
        [
            "-w",
            ws,
            "enroll",
            "--person",
            "G. Hopper",
            str(demo.gallery / "Grace Hopper" / "portrait.png"),
        ],
    )
    assert ok.exit_code == 0 and "enrolled" in ok.output
    none = runner.invoke(
        app, ["-w", ws, "enroll", "--person", "Nobody", str(demo.evidence / "empty_wall.png")]
    )
    assert none.exit_code == 1 and "no_face" in none.output
    not_folder = runner.invoke(app, ["-w", ws, "enroll", str(demo.scene)])
    assert not_folder.exit_code == 1 and "not a folder" in not_folder.output
    missing = runner.invoke(app, ["-w", ws, "scan", str(tmp_path / "missing")])
    assert missing.exit_code == 1 and "no such file or folder" in missing.output


def test_doctor_reports_models_and_runtimes() -> None:
    data = _json(["doctor", "--json"])
    names = {m["name"]: m["sha256"] for m in data["bundled_models"]}
    assert len(names["dlib_face_recognition_resnet_model_v1"]) == 64
    assert data["engine"]["embedder_sha256"] == names["dlib_face_recognition_resnet_model_v1"]
    assert data["engine"]["embedder_runtime"]["runtime"] == "onnxruntime"
    assert "CPUExecutionProvider" in data["runtimes"]["onnxruntime_providers"]
    assert data["threads"]["onnxruntime_intra_op"] >= 1


def test_engine_options(workspace: Path, demo: DemoCase, tmp_path: Path) -> None:
    # The same three faces with dlib's CNN detector; the provenance names the detector.
    data = _json(["-w", str(workspace), "--detector", "cnn", "search", str(demo.scene), "--json"])
    assert len(data["faces"]) == 3 and data["decision"]["model"]["detector"] == "dlib_mmod_cnn"
    missing = runner.invoke(app, ["-w", str(tmp_path / "ws"), "--embedder", "nope.onnx", "people"])
    assert missing.exit_code == 1 and "nope.onnx: no such model file" in missing.output
    unknown = runner.invoke(app, ["-w", str(tmp_path / "ws"), "--detector", "sift", "people"])
    assert unknown.exit_code == 1 and "unknown detector 'sift'" in unknown.output


def test_enrol_with_a_broken_metadata_file_names_the_line(tmp_path: Path, demo: DemoCase) -> None:
    meta = tmp_path / "people.csv"
    meta.write_bytes(b"name,role\nGrace Hopper,admiral\n\xff,x\n")
    result = runner.invoke(
        app, ["-w", str(tmp_path / "ws"), "enroll", str(demo.gallery), "--meta", str(meta)]
    )
    assert result.exit_code == 1
    assert f"{meta}: not UTF-8 text at line 3 (byte 31)" in result.output
    assert not (tmp_path / "ws").exists()  # nothing done before the file was read
