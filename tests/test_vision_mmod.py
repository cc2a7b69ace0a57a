"""dlib's MMOD CNN detector on ONNX Runtime gives dlib's own detections."""

from __future__ import annotations

from pathlib import Path

import dlib
import numpy as np
import pytest
from PIL import Image

from facesift.vision.detect import CnnDetector
from facesift.vision.mmod import MmodOnnxDetector, resize_float, upsample_twice

BOX_PX = 1.0
SCORE = 1e-3


@pytest.fixture(scope="module")
def detectors() -> tuple[MmodOnnxDetector, CnnDetector]:
    return MmodOnnxDetector(), CnnDetector()


def _assert_same(detectors, image: np.ndarray, upsample: int) -> int:
    ours, reference = detectors
    got, want = ours(image, upsample), reference(image, upsample)
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert np.abs(np.array(a.box) - np.array(b.box)).max() <= BOX_PX
        assert abs(a.score - b.score) <= SCORE
    return len(got)


def test_pyramid_resampling_is_dlibs_to_the_bit() -> None:
    rng = np.random.default_rng(1)
    for rows, cols in ((250, 250), (37, 1000), (601, 333)):
        levels = rng.normal(size=(rows, cols)).astype(np.float32)
        expected = dlib.pyramid_down(6)(levels)
        assert np.array_equal(resize_float(levels[None], *expected.shape)[0], expected)
        rgb = rng.integers(0, 256, (rows, cols, 3)).astype(np.uint8)
        doubled = upsample_twice(rgb)
        assert doubled.shape == (2 * rows + 1, 2 * cols + 2, 3)
        assert np.array_equal(doubled, dlib.resize_image(rgb, *doubled.shape[:2]))


def test_same_detections_as_dlib_on_sample_photos(
    detectors, hopper_path: Path, stranger_path: Path, collins_path: Path
) -> None:
    found = 0
    for path in (hopper_path, stranger_path, collins_path):
        image = Image.open(path).convert("RGB")
        small = np.asarray(image.resize((image.width // 2, image.height // 2), Image.BILINEAR))
        found += _assert_same(detectors, small, 0) + _assert_same(detectors, small, 1)
    assert found >= 4  # the comparison covers real detections, not just empty lists
    grey = np.asarray(Image.open(stranger_path).convert("L").convert("RGB"))[::2, ::2]
    _assert_same(detectors, np.ascontiguousarray(grey), 1)
    assert detectors[0](np.zeros((8, 300, 3), np.uint8), 0) == []  # too small to tile


@pytest.mark.datasets
def test_same_detections_as_dlib_on_real_photos(detectors, lfw: Path, datasets: Path) -> None:
    found = 0
    for photo in sorted((lfw / "images").glob("*/*_0002.jpg"))[:20]:
        found += _assert_same(detectors, np.asarray(Image.open(photo).convert("RGB")), 0)
    group = np.asarray(Image.open(datasets / "media" / "group_photo.jpg").convert("RGB"))
    assert _assert_same(detectors, group, 0) == 6
    assert found >= 18
