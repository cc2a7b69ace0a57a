"""Where analysis runs: a failure of the analysis is told from a file that cannot be read, is
reported as such and retried; a worker process that dies fails only what it had in hand."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import numpy as np
import pytest

from facesift import FaceEngine, Workspace
from facesift.execution import AnalysisFailure, LocalProcesses
from facesift.execution.analysis import analyze_file, analyze_pixels
from facesift.execution.local import WORKER_DIED


def _out_of_memory(*args: object, **kwargs: object) -> object:
    raise MemoryError


def test_a_crash_in_the_analysis_is_told_from_an_unreadable_file(
    tmp_path: Path, engine: FaceEngine, hopper_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff broken")
    unreadable = analyze_file(engine, broken)
    assert isinstance(unreadable, str) and not isinstance(unreadable, AnalysisFailure)
    monkeypatch.setattr(engine, "analyze_pixels", _out_of_memory)
    crash = analyze_file(engine, hopper_path)
    assert isinstance(crash, AnalysisFailure) and "out of memory" in crash
    assert "may be fine" in crash
    frame = analyze_pixels(engine, np.zeros((8, 8, 3), np.uint8))
    assert isinstance(frame, AnalysisFailure) and "out of memory" in frame


def test_a_photo_whose_analysis_failed_is_reported_so_and_retried_by_the_next_scan(
    tmp_path: Path, engine: FaceEngine, hopper_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "drive"
    folder.mkdir()
    (folder / "broken.jpg").write_bytes(b"\xff\xd8\xff broken")
    (folder / "hopper.png").write_bytes(hopper_path.read_bytes())
    monkeypatch.setattr(engine, "analyze_pixels", _out_of_memory)
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        report = ws.scan([folder], workers=1)
        errors = {Path(e["path"]).name: e for e in report.to_dict()["errors"]}
        assert errors["broken.jpg"]["kind"] == "file"
        assert errors["hopper.png"]["kind"] == "analysis"
        assert "out of memory" in errors["hopper.png"]["reason"]
        stored = {Path(m.path).name: m for m in ws.media()}
        assert stored["hopper.png"].status == "error"
        assert "analysis failed (out of memory)" in (stored["hopper.png"].error or "")
    monkeypatch.undo()
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        again = ws.scan([folder], workers=1)
        assert again.processed == 1 and again.faces == 1 and again.already_stored == 0
        assert [Path(p).name for p, _ in again.errors] == ["broken.jpg"]  # fails again
        stored = {Path(m.path).name: m for m in ws.media()}
        assert stored["hopper.png"].status == "ok" and stored["hopper.png"].error is None


@pytest.mark.slow
def test_a_worker_that_dies_fails_what_it_had_and_the_workers_start_again(
    engine: FaceEngine, hopper_rgb: np.ndarray, hopper_path: Path
) -> None:
    large = np.ascontiguousarray(np.tile(hopper_rgb, (3, 3, 1)))  # about a second each
    with LocalProcesses(engine, 2) as pool:
        assert len(pool.submit_pixels(hopper_rgb).result()) == 1  # the workers are up
        in_flight = [pool.submit_pixels(large) for _ in range(4)]
        assert pool._executor is not None
        for pid in list(pool._executor._processes):
            os.kill(pid, signal.SIGKILL)
        results = [future.result(timeout=120) for future in in_flight]
        assert WORKER_DIED in results  # not an exception that ends the scan
        assert all(r == WORKER_DIED or isinstance(r, list) for r in results)
        assert isinstance(WORKER_DIED, AnalysisFailure)
        again = pool.submit_pixels(hopper_rgb).result(timeout=120)
        assert isinstance(again, list) and len(again) == 1
        photos = list(pool.imap(iter([(0, hopper_path), (1, hopper_path)])))
        assert [len(a.faces) for _, a in photos if not isinstance(a, str)] == [1, 1]
