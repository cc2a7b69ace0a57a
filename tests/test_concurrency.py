"""Concurrent writers lose nothing: enrol and scans of the same and of overlapping folders,
started together as separate processes on one workspace, end as a sequential run does.

Runs on SQLite (the workspace's file) and on PostgreSQL (a fresh schema each round), 10
rounds each (FACESIFT_CONCURRENCY_ROUNDS to change it). On PostgreSQL also with an analyst
writing through the REST API meanwhile (uploads, a scan job, a new person), counted against
the same work done one after another.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

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


def _api_writes(workspace: Workspace, photos: list[Path], newcomer: Path) -> dict[str, Any]:
    """What an analyst does through the REST API meanwhile: upload photos, scan them into case
    A (a background job), and enrol a new person; the job's outcome."""
    from fastapi.testclient import TestClient

    from facesift.web.app import create_app

    workspace.add_user("ana", "analyst", "analyst password")
    with TestClient(create_app(workspace, scan_workers=1)) as client:
        token = client.post(
            "/api/token", data={"username": "ana", "password": "analyst password"}
        ).json()["access_token"]
        auth = {"Authorization": f"Bearer {token}"}
        uploaded = client.post(
            "/api/media", headers=auth, files=[("files", (p.name, p.read_bytes())) for p in photos]
        ).json()
        job = client.post(
            "/api/scans", headers=auth, json={"media": [u["sha256"] for u in uploaded], "case": "A"}
        ).json()
        enrolled = client.post(
            "/api/people",
            headers=auth,
            data={"name": "Newcomer"},
            files=[("files", (newcomer.name, newcomer.read_bytes()))],
        )
        assert enrolled.status_code == 201, enrolled.text
        for _ in range(1200):
            job = client.get(f"/api/jobs/{job['id']}", headers=auth).json()
            if job["status"] not in ("queued", "running"):
                return job
            time.sleep(0.1)
    raise AssertionError(f"the scan job did not end: {job}")


@pytest.mark.postgres
def test_two_scans_and_an_api_client_on_postgres(
    tmp_path: Path,
    folders: tuple[Path, Path],
    lfw: Path,
    postgres_url: str,
    engine: FaceEngine,
) -> None:
    gallery, overlap = folders
    shared = sorted(p for p in overlap.iterdir() if p.suffix == ".jpg")[:2]
    others = [p for p in sorted((lfw / "images").iterdir()) if len(list(p.iterdir())) == 1]
    unique, newcomer = (next(p.iterdir()) for p in others[:2])
    expected: dict[str, Any] = {}
    for label, url in (("sequential", None), ("together", postgres_url)):
        folder = tmp_path / label
        with Workspace(folder, engine=engine, database_url=url, actor="api") as ws:
            if url is None:
                for command in _commands(folder, None, gallery, overlap):
                    done = subprocess.run(command, capture_output=True, text=True, env=_env())
                    assert done.returncode == 0, done.stderr
                job = _api_writes(ws, [*shared, unique], newcomer)
            else:
                running = [
                    subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env=_env())
                    for c in _commands(folder, url, gallery, overlap)
                ]  # fmt: skip
                for _ in range(600):  # the API writes while the scans are storing
                    if ws.media() or any(p.poll() is not None for p in running):
                        break
                    time.sleep(0.05)
                job = _api_writes(ws, [*shared, unique], newcomer)
                for process in running:
                    out, err = process.communicate(timeout=600)
                    assert process.returncode == 0, f"{process.args}\n{out}\n{err}"
        assert job["status"] == "done" and not job["result"]["errors"], job
        counts = _counts(folder, url, engine)
        with Workspace(folder, engine=engine, database_url=url) as ws:
            counts["case A"] = len(ws.media("A"))
            counts["shas"] = len({m.sha256 for m in ws.media()})
        expected[label] = counts
    assert expected["together"] == expected["sequential"]
    assert expected["together"]["case A"] == 3
    assert expected["together"]["people"] == 4  # three from the folder, one through the API
