"""Evidence integrity: nothing overwritten, clear errors instead of tracebacks, listings that
round-trip, derived files checked, output that cannot mislead, private files, corrections."""

from __future__ import annotations

import csv
import io
import json
import os
import stat
from pathlib import Path

import faiss
import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app
from facesift.media.files import sha256_file
from facesift.samples import DemoCase

runner = CliRunner()


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory, demo: DemoCase) -> Path:
    ws = tmp_path_factory.mktemp("ws") / "ws"
    for args in (
        ["enroll", str(demo.gallery), "--meta", str(demo.metadata)],
        ["scan", str(demo.evidence), str(demo.footage), "--case", "demo", "--workers", "1"],
    ):
        result = runner.invoke(app, ["-w", str(ws), *args])
        assert result.exit_code == (3 if "scan" in args else 0), result.output
    return ws


def _run(workspace: Path, *args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["-w", str(workspace), *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, " ".join(result.output.split())


def test_outputs_never_overwrite_evidence(workspace: Path, demo: DemoCase, tmp_path: Path) -> None:
    photo = tmp_path / "probe.jpg"
    photo.write_bytes(demo.scene.read_bytes())
    before = sha256_file(photo)
    # The input photo itself: refused, even with --force; the photo is unchanged.
    for force in ([], ["--force"]):
        code, out = _run(workspace, "search", str(photo), "--annotate", str(photo), *force)
        assert code == 1 and "is an input file" in out
    assert sha256_file(photo) == before
    # An existing file: only with --force.
    existing = tmp_path / "existing.jpg"
    existing.write_bytes(b"keep me")
    code, out = _run(workspace, "search", str(photo), "--annotate", str(existing))
    assert code == 1 and "already exists" in out and existing.read_bytes() == b"keep me"
    code, _ = _run(workspace, "search", str(photo), "--annotate", str(existing), "--force")
    assert code == 0 and Image.open(existing).size == Image.open(photo).size
    # A folder that does not exist: said before the search is run.
    code, out = _run(workspace, "search", str(photo), "--annotate", str(tmp_path / "no" / "a.jpg"))
    assert code == 1 and "does not exist" in out
    # frame --out: the same rules.
    frame = tmp_path / "frame.png"
    frame.write_bytes(b"keep me too")
    code, out = _run(workspace, "frame", str(demo.clip), "--at", "1", "--out", str(frame))
    assert code == 1 and "already exists" in out and frame.read_bytes() == b"keep me too"
    code, _ = _run(workspace, "frame", str(demo.clip), "--at", "1", "--out", str(frame), "--force")
    assert code == 0 and Image.open(frame).size[0] > 0
    code, out = _run(workspace, "frame", str(demo.clip), "--at", "1", "--out", str(demo.clip))
    assert code == 1 and "is an input file" in out


def test_ordinary_mistakes_get_clear_errors(
    workspace: Path, demo: DemoCase, tmp_path: Path
) -> None:
    tiny = []
    for w, h in ((1, 1), (2, 2), (1, 300), (300, 1)):
        tiny.append(tmp_path / f"tiny-{w}x{h}.png")
        Image.fromarray(np.full((h, w, 3), 128, np.uint8)).save(tiny[-1])
    for photo in tiny:
        code, out = _run(workspace, "search", str(photo))
        assert code == 0 and "No face found" in out
        code, out = _run(workspace, "enroll", "--person", "Tiny", str(photo))
        assert code == 1 and "no_face" in out
    code, out = _run(workspace, "verify", str(tiny[0]), str(tiny[1]))
    assert code == 1 and f"{tiny[0]}: no face found" in out
    for command in (["search", str(tmp_path)], ["verify", str(tmp_path), str(tiny[0])]):
        code, out = _run(workspace, *command)
        assert code == 1 and f"{tmp_path}: is a folder" in out
    not_utf8 = tmp_path / "people.csv"
    not_utf8.write_bytes(b"name,unit\n\xff\xfe,x\n")
    for meta, why in (
        (tmp_path / "missing.csv", "no such metadata file"),
        (tmp_path, "is a folder"),
        (not_utf8, "not UTF-8"),
    ):
        code, out = _run(workspace, "enroll", str(demo.gallery), "--meta", str(meta))
        assert code == 1 and f"{meta}: {why}" in out
    # No person was created by the failed enrolments.
    assert "Tiny" not in _run(workspace, "people")[1]
    # The workspace itself: a file where its index belongs, a bad URL, a damaged database.
    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "index").write_text("not a folder")
    code, out = _run(blocked, "people")
    assert code == 1 and "index: is a file" in out
    code, out = _run(tmp_path / "other", "--database-url", "nonsense://x", "people")
    assert code == 1 and "cannot use the database URL" in out
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    (damaged / "facesift.db").write_bytes(b"not a database" * 100)
    code, out = _run(damaged, "people")
    assert code == 1 and "file is not a database" in out


def test_listed_times_round_trip_to_frame(workspace: Path, demo: DemoCase, tmp_path: Path) -> None:
    code, out = _run(workspace, "faces", "--json")
    video_faces = [f for f in json.loads(out) if f["timestamp"] is not None]
    assert video_faces
    for face in video_faces[:6]:
        printed = f"{face['timestamp']:.3f}"  # as the listing shows it
        code, out = _run(
            workspace, "frame", str(demo.clip), "--at", printed, "--json",
            "--out", str(tmp_path / f"{face['id']}.png"),
        )  # fmt: skip
        assert code == 0, out
        shot = json.loads(out)
        assert shot["frame_index"] == face["frame_index"]
        assert face["id"] in [f["face_id"] for f in shot["faces"]]


def test_an_altered_index_file_is_rebuilt(workspace: Path, demo: DemoCase) -> None:
    engine = FaceEngine()
    with Workspace(workspace, engine=engine) as ws:
        before = ws.search(demo.scene).faces[0].candidates[0]
    index_file = next((workspace / "index").glob("*.faiss"))
    index = faiss.read_index(str(index_file))
    vectors = index.reconstruct_n(0, index.ntotal)
    altered = faiss.IndexFlatIP(vectors.shape[1])
    altered.add(np.ascontiguousarray(vectors[::-1]))  # the people's vectors swapped
    faiss.write_index(altered, str(index_file))
    with Workspace(workspace, engine=engine) as ws:
        after = ws.search(demo.scene).faces[0].candidates[0]
    assert (after.person, after.band) == (before.person, before.band)
    assert after.score == pytest.approx(before.score, abs=1e-6)


def test_csv_and_terminal_output_cannot_mislead(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    formula = '=HYPERLINK("http://example.com","click")'
    ws = tmp_path / "ws"
    with Workspace(ws, engine=engine) as workspace:
        workspace.enroll(formula, [demo.gallery / "Grace Hopper"])
    result = runner.invoke(app, ["-w", str(ws), "scan", str(demo.scene), "--case", "c"])
    assert result.exit_code == 0
    result = runner.invoke(app, ["-w", str(ws), "identify", "--case", "c", "--csv"])
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    people = {r["person"] for r in rows if r["person"]}
    assert people == {"'" + formula}
    # A file name with a terminal escape sequence is printed escaped.
    sneaky = tmp_path / "evil\x1b[2Jname.jpg"
    sneaky.write_bytes(b"not an image")
    result = runner.invoke(app, ["-w", str(ws), "scan", str(sneaky)])
    assert "\x1b" not in result.output and "\\x1b[2J" in result.output


def test_workspace_files_are_private(workspace: Path) -> None:
    assert stat.S_IMODE(workspace.stat().st_mode) == 0o700
    assert stat.S_IMODE((workspace / "facesift.db").stat().st_mode) == 0o600
    for derived in (workspace / "index").iterdir():
        assert stat.S_IMODE(derived.stat().st_mode) == 0o600, derived


def test_a_symlink_is_recorded_where_found(tmp_path: Path, demo: DemoCase) -> None:
    found = tmp_path / "seized" / "DCIM"
    found.mkdir(parents=True)
    link = found / "photo.jpg"
    os.symlink(demo.scene, link)
    ws = tmp_path / "ws"
    assert runner.invoke(app, ["-w", str(ws), "scan", str(tmp_path / "seized")]).exit_code == 0
    (media,) = json.loads(runner.invoke(app, ["-w", str(ws), "media", "--json"]).stdout)
    assert media["path"] == str(link.absolute())
    assert media["link_target"] == str(demo.scene.resolve())


def test_gallery_corrections_are_recorded(tmp_path: Path, demo: DemoCase) -> None:
    ws = tmp_path / "ws"
    extra = tmp_path / "people.csv"
    extra.write_text(demo.metadata.read_text() + "Nobody Here,someone\n")
    result = runner.invoke(app, ["-w", str(ws), "enroll", str(demo.gallery), "--meta", str(extra)])
    assert result.exit_code == 0 and "Nobody Here" in result.output  # an unmatched row, said
    faces = json.loads(runner.invoke(app, ["-w", str(ws), "faces", "--json"]).stdout)
    hopper = next(f["id"] for f in faces if f["person"] == "Grace Hopper")
    code, out = _run(ws, "enroll", "--remove", str(hopper), "--note", "wrong photo")
    assert code == 0 and "no longer enrolled as Grace Hopper" in out
    code, out = _run(ws, "people", "remove", "Eileen Collins")
    assert code == 0
    assert json.loads(runner.invoke(app, ["-w", str(ws), "people", "--json"]).stdout) == []
    history = json.loads(runner.invoke(app, ["-w", str(ws), "people", "history", "--json"]).stdout)
    assert [(h["action"], h["person"], h["note"]) for h in history] == [
        ("unenroll_face", "Grace Hopper", "wrong photo"),
        ("remove_person", "Eileen Collins", None),
    ]
    # The faces stay stored as evidence.
    assert len(json.loads(runner.invoke(app, ["-w", str(ws), "faces", "--json"]).stdout)) == 2
    code, out = _run(ws, "people", "remove", "Eileen Collins")
    assert code == 1 and "no person named" in out


def test_scan_accounts_for_every_file(tmp_path: Path, demo: DemoCase) -> None:
    evidence = tmp_path / "drive"
    (evidence / ".hidden" / "deep").mkdir(parents=True)
    (evidence / "sub").mkdir()
    (evidence / ".hidden" / "deep" / "scene.jpg").write_bytes(demo.scene.read_bytes())
    (evidence / "sub" / "IMG_0001.jfif").write_bytes(demo.scene.read_bytes())  # other extension
    (evidence / "sub" / "photo").write_bytes(  # no extension: recognised by content
        (demo.gallery / "Grace Hopper" / "portrait.png").read_bytes()
    )
    (evidence / "sub" / "clip.dat").write_bytes(demo.clip.read_bytes())
    (evidence / "notes.txt").write_text("not media")
    os.symlink(evidence / "sub", evidence / "link-to-sub")  # a folder link: walked once
    scene = Image.open(demo.scene).convert("RGB").resize((320, 240))
    frames = [scene.rotate(angle) for angle in (0, 90, 180)]  # three different frames
    frames[0].save(evidence / "animation.gif", save_all=True, append_images=frames[1:])
    ws = tmp_path / "ws"
    result = runner.invoke(app, ["-w", str(ws), "scan", str(evidence), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    skipped = {Path(s["path"]).name: s["reason"] for s in report["skipped"]}
    assert report["files"] == 5 and report["processed"] == 5 - 1  # jfif: the scene again
    assert report["already_stored"] == 1 and report["tracks"] >= 1
    assert "not a photo or video" in skipped["notes.txt"]
    # The folder and the link to it: one is walked, the other reported.
    assert "already scanned" in (skipped.get("sub") or skipped["link-to-sub"])
    assert "frames 2–3" in skipped["animation.gif"]
    paths = {Path(m["path"]).name for m in json.loads(
        runner.invoke(app, ["-w", str(ws), "media", "--json"]).stdout)}  # fmt: skip
    assert {"scene.jpg", "photo", "clip.dat", "animation.gif"} <= paths
    # Hidden entries only when asked to leave them out; a scan that fails or finds nothing
    # says so in its exit status.
    result = runner.invoke(app, ["-w", str(tmp_path / "ws2"), "scan", str(evidence),
                                 "--skip-hidden", "--json"])  # fmt: skip
    report = json.loads(result.stdout)
    assert any("hidden folder" in s["reason"] for s in report["skipped"]) and report["files"] == 4
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    assert runner.invoke(app, ["-w", str(ws), "scan", str(bad)]).exit_code == 3
    empty = tmp_path / "empty"
    empty.mkdir()
    assert runner.invoke(app, ["-w", str(ws), "scan", str(empty)]).exit_code == 4


def test_a_damaged_exif_is_reported_by_the_scan_and_kept_with_the_photo(
    tmp_path: Path, engine: FaceEngine
) -> None:
    from facesift.store.schema import Media
    from tests.test_media_image import damaged_exif_jpeg

    photo = damaged_exif_jpeg(tmp_path / "damaged_exif.jpg", "gps")
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        report = ws.scan([photo], workers=1)
        assert report.processed == 1 and not report.errors
        ((path, reason),) = report.warnings
        assert path == str(photo) and "damaged EXIF" in reason and "GPS" in reason
        assert report.to_dict()["warnings"] == [{"path": path, "reason": reason}]
        with ws.context.store.sessions() as session:
            (media,) = session.query(Media).all()
            assert media.status == "ok" and media.exif["Make"] == "ACME"
            assert media.exif["_errors"] and "GPSLatitude" not in media.exif
    result = runner.invoke(app, ["-w", str(tmp_path / "ws2"), "scan", str(photo)])
    assert result.exit_code == 0 and "warning" in result.output and "damaged EXIF" in result.output
