"""Shared fixtures: real models, real sample photos, and the development datasets."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesift import FaceEngine, samples

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
