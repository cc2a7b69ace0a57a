"""Scanning on Ray: a local Ray instance analyses photos and video frames, the scanning
process stores them, and the store ends as a local scan leaves it, even when a worker is
killed halfway."""

from __future__ import annotations

import os
import shutil
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app as cli
from facesift.execution.cluster import RayActors, RayCluster, RayUnavailable
from tests.videos import moving_photos_video

pytest.importorskip("ray", reason="the Ray executor's tests need Ray (pip install 'facesift[ray]')")

runner = CliRunner()


@pytest.fixture(scope="module")
def cluster() -> Iterator[RayCluster]:
    """A Ray instance on this machine, for this module's tests."""
    import ray

    made = RayCluster()
    made.connect()
    yield made
    ray.shutdown()


@pytest.fixture(scope="module")
def photos(hopper_path: Path, collins_path: Path, stranger_path: Path) -> list[Path]:
    return [hopper_path, collins_path, stranger_path]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory, photos: list[Path]) -> Path:
    """Photos (each twice), a file that is no photo, and a video of one of the people."""
    out = tmp_path_factory.mktemp("ray") / "drive"
    out.mkdir()
    for n, photo in enumerate(photos * 2):
        shutil.copy(photo, out / f"{n}_{photo.name}")
    (out / "notes.jpg").write_bytes(b"not a photo")
    moving_photos_video(
        out / "clip.mp4", [(photos[1], 0.0, 2.0, (20, 20, 220), (200, 60, 240))], duration=2
    )
    return out


class Keeping:
    """An executor factory that keeps the executor it made, so that a test reaches its workers."""

    def __init__(self, cluster: RayCluster) -> None:
        self.cluster = cluster
        self.made: list[RayActors] = []

    def default_workers(self, engine: FaceEngine) -> int:
        return self.cluster.default_workers(engine)

    def __call__(self, engine: FaceEngine, workers: int, *args: Any, **kwargs: Any) -> RayActors:
        self.made.append(self.cluster(engine, workers, *args, **kwargs))
        return self.made[-1]


def _faces(ws: Workspace) -> list[tuple[Any, ...]]:
    """What a scan stored, without the ids that differ between workspaces."""
    return sorted(
        (f.sha256, f.frame_index, tuple(f.bbox), f.quality, f.det_score, f.track_id is not None)
        for f in ws.faces()
    )


def test_a_ray_scan_stores_what_a_local_scan_stores(
    tmp_path: Path, engine: FaceEngine, folder: Path, cluster: RayCluster
) -> None:
    with Workspace(tmp_path / "local", engine=engine) as ws:
        local = ws.scan([folder], workers=2)
        expected = _faces(ws)
    with Workspace(tmp_path / "ray", engine=engine) as ws:
        report = ws.scan([folder], workers=2, executor=cluster)
        assert _faces(ws) == expected
    assert report.faces == local.faces and report.tracks == local.tracks >= 1
    assert [(Path(p).name, r) for p, r in report.errors] == [
        ("notes.jpg", "not a recognised image format")
    ]
    assert report.processed == local.processed == 4  # three photos (each twice) and the video


@pytest.mark.slow
def test_a_killed_ray_worker_is_restarted_and_the_scan_loses_nothing(
    tmp_path: Path, engine: FaceEngine, photos: list[Path], cluster: RayCluster
) -> None:
    many = tmp_path / "many"
    many.mkdir()
    for n, photo in enumerate(photos * 8):
        copy = many / f"{n:02d}_{photo.name}"
        shutil.copy(photo, copy)
        with copy.open("ab") as handle:  # other bytes, the same picture: every file is new
            handle.write(n.to_bytes(2))
    keeping = Keeping(cluster)
    killed: list[int] = []
    at_the_end: list[int] = []

    def kill_a_worker_early(path: Path, done: int, total: int) -> None:
        if done == 3 and not killed:
            killed.append(keeping.made[0].worker_pids()[0])
            os.kill(killed[0], signal.SIGKILL)
        if done == total:
            at_the_end.extend(keeping.made[0].worker_pids())

    with Workspace(tmp_path / "ws", engine=engine) as ws:
        report = ws.scan([many], workers=2, executor=keeping, progress=kill_a_worker_early)
        assert killed and report.errors == []
        assert len(at_the_end) == 2 and killed[0] not in at_the_end  # restarted: a new process
        assert report.processed == len(photos) * 8 and report.faces >= report.processed
        with Workspace(tmp_path / "local", engine=engine) as local:
            local.scan([many], workers=1)
            assert _faces(ws) == _faces(local)
        again = ws.scan([many], workers=2, executor=keeping)
        assert again.processed == 0 and again.already_stored == report.processed


def test_a_worker_with_other_models_is_refused(
    engine: FaceEngine, cluster: RayCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    described = engine.describe()
    monkeypatch.setattr(engine, "describe", lambda: {**described, "embedder_sha256": "0" * 64})
    with pytest.raises(RayUnavailable, match="other models"), cluster(engine, 1):
        pass


def test_the_cli_scans_on_ray_and_lists_the_same_faces(
    tmp_path: Path, folder: Path, cluster: RayCluster
) -> None:
    only_photos = tmp_path / "photos"
    only_photos.mkdir()
    for photo in folder.iterdir():
        if photo.suffix != ".mp4":
            shutil.copy(photo, only_photos / photo.name)
    listings = []
    for executor in ("local", "ray"):
        ws = str(tmp_path / executor)
        scanned = runner.invoke(cli, ["-w", ws, "scan", str(only_photos), "--executor", executor])
        assert scanned.exit_code == 3, scanned.output  # notes.jpg is no photo
        listed = runner.invoke(cli, ["-w", ws, "faces", "--json"])
        assert listed.exit_code == 0, listed.output
        listings.append(sorted(listed.output.replace(ws, "WS").splitlines()))
    assert listings[0] == listings[1] and len(listings[0]) > 10
    refused = runner.invoke(cli, ["-w", ws, "scan", str(only_photos), "--ray-address", "auto"])
    assert refused.exit_code != 0 and "--executor ray" in refused.output
