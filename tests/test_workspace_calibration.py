"""A workspace's own calibration: where its people score higher than the shipped calibration
expects, every result says so and FMRs come from the workspace's own pairs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from PIL import Image, ImageEnhance
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app
from facesift.match.calibration import bundled_calibration
from facesift.samples import DemoCase, build_demo

runner = CliRunner()


@pytest.fixture(scope="module")
def look_alikes(
    tmp_path_factory: pytest.TempPathFactory, engine: FaceEngine
) -> tuple[Path, DemoCase]:
    """A workspace whose gallery's 'different people' all look alike: 16 copies of one
    portrait enrolled under 16 names (as an extreme stand-in for a population the model
    separates poorly), and the demo case scanned."""
    root = tmp_path_factory.mktemp("look-alikes")
    demo = build_demo(root / "demo")
    ws = Workspace(root / "ws", engine=engine)
    ws.enroll_folder(demo.gallery)
    portrait = Image.open(demo.gallery / "Grace Hopper" / "portrait.png").convert("RGB")
    for k in range(16):
        copy = ImageEnhance.Brightness(portrait).enhance(0.8 + 0.025 * k)
        buffer = io.BytesIO()
        copy.save(buffer, "JPEG", quality=70 + k)
        path = root / f"copy-{k:02d}.jpg"
        path.write_bytes(buffer.getvalue())
        assert ws.enroll(f"Look-alike {k:02d}", [path])[0].status == "enrolled"
    ws.scan([demo.evidence], case="demo")
    ws.close()
    return root / "ws", demo


def test_population_mismatch_is_detected_and_used(
    look_alikes: tuple[Path, DemoCase], engine: FaceEngine
) -> None:
    path, _ = look_alikes
    with Workspace(path, engine=engine) as ws:
        shipped = bundled_calibration(
            engine.model_name, engine.model_sha256, pipeline=engine.describe()
        )
        assert shipped is not None
        policy = ws.policy()
        assert policy.check is not None and policy.check.mismatch
        assert policy.source == "local"
        status = ws.calibration_status().to_dict()
        assert status["active"] == "local"
        gallery = status["own"]["sources"]["gallery"]
        # 18 enrolled people, one face each: every pair of two of them.
        assert gallery == {"pairs": 18 * 17 // 2, "units": 18, "unit_kind": "people"}
        assert status["warnings"] and status["warnings"][0].startswith("population mismatch")
        # The decision follows the workspace's calibration, not the shipped one.
        assert ws.threshold_for(1e-3) == pytest.approx(policy.threshold_for(1e-3))
        assert ws.threshold_for(1e-3) > shipped.threshold_for(1e-3)
        own_fmr = ws.fmr_for(shipped.threshold_for(1e-3))
        assert own_fmr is not None and own_fmr > 0.3


def test_mismatch_warning_in_search_and_identify(look_alikes: tuple[Path, DemoCase]) -> None:
    path, demo = look_alikes
    for command in (["search", str(demo.scene)], ["identify", "--case", "demo"]):
        result = runner.invoke(app, ["-w", str(path), *command, "--json"])
        assert result.exit_code == 0, result.output
        decision = json.loads(result.stdout)["decision"]
        assert decision["calibration"]["source"] == "local"
        assert any(w.startswith("population mismatch") for w in decision["warnings"])
        human = runner.invoke(app, ["-w", str(path), *command])
        assert human.exit_code == 0, human.output
        assert "warning: population mismatch" in " ".join(human.stdout.split())
    status = runner.invoke(app, ["-w", str(path), "calibration", "--json"])
    assert json.loads(status.stdout)["population_check"]["mismatch"] is True
    human = runner.invoke(app, ["-w", str(path), "calibration"])
    assert "FMRs from the local calibration" in " ".join(human.stdout.split())


def test_no_warning_for_a_gallery_of_different_people(tmp_path: Path, engine: FaceEngine) -> None:
    demo = build_demo(tmp_path / "demo")
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        ws.enroll_folder(demo.gallery)
        result = ws.search(demo.scene)
        assert result.decision.warnings == []
        assert result.decision.calibration is not None
        assert result.decision.calibration["source"] == "shipped"
        # Two people: one pair, too few for a fit of the workspace's own.
        assert ws.own_calibration() is None
        assert ws.threshold == pytest.approx(0.914, abs=0.001)
