"""kill -9 at any moment loses nothing: a scan of photos and a 30 s video, killed at five
random moments and rerun each time, ends exactly as an uninterrupted scan (faces, boxes,
tracks)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from facesift import FaceEngine, Workspace
from facesift.samples import build_demo
from tests.videos import moving_photos_video

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def evidence(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's photos and a 30 s clip in which three people come and go."""
    root = tmp_path_factory.mktemp("kill")
    demo = build_demo(root / "demo")
    folder = root / "evidence"
    folder.mkdir()
    for photo in demo.evidence.iterdir():
        (folder / photo.name).write_bytes(photo.read_bytes())
    hopper = next((demo.gallery / "Grace Hopper").iterdir())
    collins = next((demo.gallery / "Eileen Collins").iterdir())
    moving_photos_video(
        folder / "long.mp4",
        [
            (hopper, 0.0, 12.0, (10, 40, 220), (380, 60, 200)),
            (collins, 8.0, 22.0, (400, 30, 180), (20, 50, 240)),
            (hopper, 18.0, 30.0, (200, 20, 120), (260, 40, 160)),
        ],
        duration=30,
    )
    return folder


def _command(workspace: Path, evidence: Path) -> list[str]:
    return [sys.executable, "-m", "facesift.cli", "-w", str(workspace), "scan", str(evidence),
            "--workers", "1"]  # fmt: skip


def _env() -> dict[str, str]:
    return {**os.environ, "FACESIFT_DEVICE": "cpu"}


def _stored(workspace: Path, engine: FaceEngine) -> tuple[list[tuple], list[tuple]]:
    with Workspace(workspace, engine=engine) as ws:
        faces = sorted(
            (Path(f.path).name, f.frame_index, tuple(f.bbox), f.track_id is not None)
            for f in ws.faces()
        )
        tracks = sorted(
            (Path(t.source.path).name, t.start_frame, t.end_frame, t.faces)
            for t in ws.identify().tracks
        )
        statuses = {m.status for m in ws.media()}
    assert statuses <= {"ok", "error"}, statuses
    return faces, tracks


def test_kill_9_at_five_moments_then_rerun(
    tmp_path: Path, evidence: Path, engine: FaceEngine
) -> None:
    whole = tmp_path / "whole"
    started = time.monotonic()
    done = subprocess.run(_command(whole, evidence), capture_output=True, text=True, env=_env())
    duration = time.monotonic() - started
    assert done.returncode == 3, done.stderr  # the demo's fake photo fails
    expected = _stored(whole, engine)
    assert expected[1], "the clip has tracks"

    killed = tmp_path / "killed"
    rng = np.random.default_rng(9)
    for moment in sorted(rng.uniform(0.15, 0.9, 5) * duration):
        process = subprocess.Popen(
            _command(killed, evidence), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            env=_env(), start_new_session=True,
        )  # fmt: skip
        time.sleep(moment)
        os.killpg(process.pid, signal.SIGKILL)  # the scan and its workers, without warning
        process.wait()
    done = subprocess.run(_command(killed, evidence), capture_output=True, text=True, env=_env())
    assert done.returncode == 3, done.stderr
    assert _stored(killed, engine) == expected
