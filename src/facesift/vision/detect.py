"""Face detectors on RGB arrays, and the image-pyramid policy that finds small faces."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

import dlib
import numpy as np
from PIL import Image

from facesift.vision.face import Box
from facesift.vision.models import CNN_DETECTOR, bundled_model

# dlib's HOG and MMOD detectors both scan with a window of about 80×80 pixels; each pyramid
# upsampling step halves the smallest face they can see.
DETECTOR_WINDOW_PX = 80.0


@dataclass(frozen=True, eq=False)
class Detection:
    """A detector's box (x1, y1, x2, y2; may extend past the image edge) and its score.

    Detectors that also locate five keypoints (eye centres, nose tip, mouth corners, image-left
    first) give them as a 5×2 array.
    """

    box: Box
    score: float
    detector: str
    keypoints: np.ndarray | None = None


class Detector(Protocol):
    name: str

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]: ...


class HogDetector:
    """dlib's HOG + linear SVM frontal detector: fast on a CPU, frontal-ish faces only."""

    name = "dlib_hog"

    def __init__(self, adjust_threshold: float = 0.0) -> None:
        self._detector = dlib.get_frontal_face_detector()
        self.adjust_threshold = adjust_threshold

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        rects, scores, _ = self._detector.run(rgb, upsample, self.adjust_threshold)
        return [Detection(_box(r), float(s), self.name) for r, s in zip(rects, scores, strict=True)]


class CnnDetector:
    """dlib's MMOD CNN detector: finds turned and occluded faces, but slow without a GPU."""

    name = "dlib_mmod_cnn"

    def __init__(self) -> None:
        self.model = bundled_model(CNN_DETECTOR)
        self._detector = dlib.cnn_face_detection_model_v1(str(self.model.path))

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        return [
            Detection(_box(d.rect), float(d.confidence), self.name)
            for d in self._detector(rgb, upsample)
        ]


def upsample_for(shape: tuple[int, ...], min_face_px: float, max_pixels: float) -> int:
    """Pyramid upsampling steps needed to see faces of `min_face_px`, within a pixel budget."""
    wanted = max(0, math.ceil(math.log2(DETECTOR_WINDOW_PX / max(min_face_px, 1.0))))
    pixels = shape[0] * shape[1]
    while wanted > 0 and pixels * 4**wanted > max_pixels:
        wanted -= 1
    return wanted


def detect_downscaled(
    detector: Detector, rgb: np.ndarray, max_pixels: float, upsample: int = 0
) -> list[Detection]:
    """Run `detector` on a copy shrunk to at most `max_pixels`; boxes in original pixels."""
    height, width = rgb.shape[:2]
    factor = min(1.0, math.sqrt(max_pixels / (height * width)))
    if factor >= 1.0:
        return detector(rgb, upsample)
    small = np.asarray(
        Image.fromarray(rgb).resize(
            (max(1, round(width * factor)), max(1, round(height * factor))), Image.BILINEAR
        )
    )
    return [
        Detection(
            tuple(v / factor for v in d.box),  # type: ignore[arg-type]
            d.score,
            d.detector,
            None if d.keypoints is None else d.keypoints / factor,
        )
        for d in detector(small, upsample)
    ]


def _box(rect: dlib.rectangle) -> Box:
    return (
        float(rect.left()),
        float(rect.top()),
        float(rect.right() + 1),
        float(rect.bottom() + 1),
    )


def to_rectangle(box: Box) -> dlib.rectangle:
    """The dlib rectangle (inclusive corners) for a box."""
    x1, y1, x2, y2 = (round(v) for v in box)
    return dlib.rectangle(x1, y1, x2 - 1, y2 - 1)


def clip_box(box: Box, shape: tuple[int, ...]) -> Box:
    """`box` cut to the image bounds."""
    height, width = shape[:2]
    x1, y1, x2, y2 = box
    return (
        float(min(max(x1, 0.0), width)),
        float(min(max(y1, 0.0), height)),
        float(min(max(x2, 0.0), width)),
        float(min(max(y2, 0.0), height)),
    )
