"""Concurrent writers lose nothing: enrol and scans of the same and of overlapping folders,
started together as separate processes on one workspace, end as a sequential run does.

Runs on SQLite (the workspace's file) and on PostgreSQL (a fresh schema each round), 10
rounds each (FACESIFT_CONCURRENCY_ROUNDS to change it).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facesift import FaceEngine, Workspace
from tests.videos import moving_photos_video

pytestmark = [pytest.mark.datasets, pytest.mark.slow]
ROUNDS = int(os.environ.get("FACESIFT_CONCURRENCY_ROUNDS", "10"))


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory, lfw: Path) -> tuple[Path, Path]:
    """gallery/<Name>/ (3 people, 2 photos each) and overlap/ (3 of those photos, 3 others);
    the same short clip in both (so that both scans meet one video)."""
    root = tmp_path_factory.mktemp("concurrency")
    people = [p for p in sorted((lfw / "images").iterdir()) if len(list(p.iterdir())) >= 3]
    gallery, overlap = root / "gallery", root / "overlap"
    overlap.mkdir()
    for person in people[:3]:
        (gallery / person.name).mkdir(parents=True)
        photos = sorted(person.iterdir())
        for photo in photos[:2]:
            shutil.copy(photo, gallery / person.name / photo.name)
        shutil.copy(photos[0], overlap / photos[0].name)
    for person in people[3:6]:
        photo = sorted(person.iterdir())[0]
        shutil.copy(photo, overlap / photo.name)
    first = sorted(people[0].iterdir())[2]
    moving_photos_video(
        gallery / "clip.mp4", [(first, 0.0, 2.0, (10, 10, 250), (60, 20, 260))], duration=2
    )
    shutil.copy(gallery / "clip.mp4", overlap / "clip.mp4")
    return gallery, overlap


def _commands(workspace: Path, url: str | None, gallery: Path, overlap: Path) -> list[list[str]]:
    base = [sys.executable, "-m", "facesift.cli", "-w", str(workspace)]
    if url:
        base += ["--database-url", url]
    return [
        [*base, "enroll", str(gallery)],
        [*base, "scan", str(gallery), "--case", "S", "--workers", "1"],
        [*base, "scan", str(overlap), "--case", "T", "--workers", "1"],
    ]


def _env() -> dict[str, str]:
    return {**os.environ, "FACESIFT_DEVICE": "cpu", "COLUMNS": "200"}


def _counts(workspace: Path, url: str | None, engine: FaceEngine) -> dict[str, int]:
    with Workspace(workspace, engine=engine, database_url=url) as ws:
        faces = ws.faces()
        return {
            "media": len(ws.media()),
            "faces": len(faces),
            "enrolled": sum(f.person is not None for f in faces),
            "people": len(ws.people()),
            "case S": len(ws.media("S")),
            "case T": len(ws.media("T")),
            "tracks": len(ws.identify().tracks),
        }


@pytest.fixture(scope="module")
def sequential(
    tmp_path_factory: pytest.TempPathFactory, folders: tuple[Path, Path], engine: FaceEngine
) -> dict[str, int]:
    workspace = tmp_path_factory.mktemp("sequential")
    for command in _commands(workspace, None, *folders):
        done = subprocess.run(command, capture_output=True, text=True, env=_env())
        assert done.returncode == 0, done.stderr
    return _counts(workspace, None, engine)


def _race(workspace: Path, url: str | None, folders: tuple[Path, Path]) -> None:
    running = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
        for c in _commands(workspace, url, *folders)
    ]
    for process in running:
        out, err = process.communicate(timeout=600)
        assert process.returncode == 0, f"{process.args}\n{out}\n{err}"
        assert "Traceback" not in err, err


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_writers_on_sqlite(
    round_: int,
    tmp_path: Path,
    folders: tuple[Path, Path],
    sequential: dict[str, int],
    engine: FaceEngine,
) -> None:
    _race(tmp_path / "ws", None, folders)  # also the workspace's concurrent first use
    assert _counts(tmp_path / "ws", None, engine) == sequential


@pytest.mark.postgres
@pytest.mark.parametrize("round_", range(ROUNDS))
def test_concurrent_writers_on_postgres(
    round_: int,
    tmp_path: Path,
    folders: tuple[Path, Path],
    sequential: dict[str, int],
    postgres_url: str,
    engine: FaceEngine,
) -> None:
    _race(tmp_path / "ws", postgres_url, folders)
    assert _counts(tmp_path / "ws", postgres_url, engine) == sequential
