"""Shared fixtures: real models, real sample photos, and the development datasets."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesift import FaceEngine, samples
from facesift.samples import DemoCase, build_demo
from tests.analyses import sharing_analyses

ROOT = Path(__file__).resolve().parents[1]
DATASETS = Path(os.environ.get("FACESIFT_DATASETS", ROOT.parent / "shared" / "datasets"))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if DATASETS.is_dir():
        return
    skip = pytest.mark.skip(reason=f"development datasets not found at {DATASETS}")
    for item in items:
        if "datasets" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def engine() -> FaceEngine:
    return FaceEngine()


@pytest.fixture(scope="session")
def hopper_path() -> Path:
    return samples.grace_hopper()


@pytest.fixture(scope="session")
def collins_path() -> Path:
    return samples.eileen_collins()


@pytest.fixture(scope="session")
def stranger_path() -> Path:
    return samples.cameraman()


@pytest.fixture(scope="session")
def hopper_rgb(hopper_path: Path) -> np.ndarray:
    return np.asarray(Image.open(hopper_path).convert("RGB"))


@pytest.fixture(scope="session")
def datasets() -> Path:
    return DATASETS


@pytest.fixture(scope="session")
def lfw(datasets: Path) -> Path:
    return datasets / "lfw-view1"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> DemoCase:
    """The demo case (public-domain portraits, a scene, a clip), built once per test module."""
    return build_demo(tmp_path_factory.mktemp("demo"))


@pytest.fixture
def shared_analyses() -> Iterator[None]:
    """Photos analysed by embed_photos are shared with the session's other tests that use this
    fixture (tests/analyses.py)."""
    with sharing_analyses():
        yield


POSTGRES = os.environ.get(
    "FACESIFT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A URL of a fresh, empty schema on the test PostgreSQL server, dropped afterwards."""
    sqlalchemy = pytest.importorskip("sqlalchemy")
    admin = sqlalchemy.create_engine(POSTGRES)
    schema = f"facesift_test_{uuid.uuid4().hex[:8]}"
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sqlalchemy.exc.OperationalError as exc:
        pytest.skip(f"PostgreSQL not reachable at {POSTGRES}: {exc.orig}")
    try:
        yield f"{POSTGRES}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()
