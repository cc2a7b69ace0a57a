"""Face detectors on RGB arrays, and the image-pyramid policy that finds small faces."""

from __future__ import annotations

import contextlib
import math
import os
from dataclasses import dataclass
from typing import Protocol

import dlib
import numpy as np
from PIL import Image

from facesift.vision.face import Box
from facesift.vision.models import CNN_DETECTOR, bundled_model
from facesift.vision.models.cache import cache_dir

# dlib's MMOD network, with upsample 1, finds 60% of the faces of rescaled LFW photos at 30 px
# and all from 40 px (benchmarks/gpu_runtime.py): it needs faces of about 80 px.
MMOD_SMALLEST_FACE_PX = 80.0

# Boxes overlapping more than this (intersection over union) are one face found twice.
DUPLICATE_IOU = 0.4

# Sides of focused regions are multiples of this (see _snap).
REGION_STEP_PX = 32


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
    """`smallest_face_px`: the narrowest face found without upsampling; each pyramid
    upsampling step halves it (see upsample_for)."""

    name: str
    smallest_face_px: float

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]: ...


def luminance(rgb: np.ndarray) -> np.ndarray:
    """ITU-R BT.601 luma of an RGB image, as uint8."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    return np.ascontiguousarray((rgb @ weights).round().clip(0, 255).astype(np.uint8))


class HogDetector:
    """dlib's HOG + linear SVM frontal detector: fast on a CPU, frontal-ish faces only."""

    name = "dlib_hog"
    # With upsample 1 it finds 95% of the faces of rescaled LFW photos at 30 px, all from 60 px
    # (benchmarks/detection.py): its 80-px window frames a face of about 60 px.
    smallest_face_px = 60.0

    def __init__(self, adjust_threshold: float = 0.0) -> None:
        self._detector = _frontal_face_detector()
        self.adjust_threshold = adjust_threshold

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        # On the luminance: dlib computes gradients once instead of per colour channel, about a
        # fifth faster on a 1080p frame, with the same recall from 40 px (rescaled LFW, the
        # group photo, the street video's annotated faces; benchmarks/detection.py).
        grey = rgb if rgb.ndim == 2 else luminance(rgb)
        rects, scores, _ = self._detector.run(grey, upsample, self.adjust_threshold)
        return [Detection(_box(r), float(s), self.name) for r, s in zip(rects, scores, strict=True)]


def _frontal_face_detector() -> dlib.fhog_object_detector:
    """dlib's built-in HOG detector, read from a saved copy in the cache when there is one.

    Building it from the data compiled into dlib takes about 0.35 s, paid by every worker
    process of a scan; reading the saved copy takes about a millisecond.
    """
    path = cache_dir() / f"dlib_frontal_face_detector-{dlib.__version__}.svm"
    if path.is_file():
        try:
            return dlib.fhog_object_detector(str(path))
        except RuntimeError:  # damaged copy: rebuild it
            path.unlink(missing_ok=True)
    detector = dlib.get_frontal_face_detector()
    with contextlib.suppress(OSError):  # an unwritable cache only costs time
        scratch = path.with_suffix(f".{os.getpid()}.svm")
        scratch.parent.mkdir(parents=True, exist_ok=True)
        detector.save(str(scratch))
        scratch.replace(path)
    return detector


class CnnDetector:
    """dlib's MMOD CNN detector: finds turned and occluded faces, but slow without a GPU."""

    name = "dlib_mmod_cnn"
    smallest_face_px = MMOD_SMALLEST_FACE_PX

    def __init__(self) -> None:
        self.model = bundled_model(CNN_DETECTOR)
        self._detector = dlib.cnn_face_detection_model_v1(str(self.model.path))

    def __call__(self, rgb: np.ndarray, upsample: int) -> list[Detection]:
        return [
            Detection(_box(d.rect), float(d.confidence), self.name)
            for d in self._detector(rgb, upsample)
        ]


def upsample_for(
    shape: tuple[int, ...], min_face_px: float, max_pixels: float, smallest_face_px: float
) -> int:
    """Pyramid upsampling steps a detector that sees faces from `smallest_face_px` needs to see
    faces of `min_face_px`, within a pixel budget."""
    min_face_px = max(min_face_px, 1.0)
    if smallest_face_px <= min_face_px:
        return 0
    wanted = math.ceil(math.log2(smallest_face_px / min_face_px))
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
            (max(1, round(width * factor)), max(1, round(height * factor))),
            Image.Resampling.BILINEAR,
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


def nms(
    boxes: np.ndarray, scores: np.ndarray, iou: float, *, over_smaller: bool = False
) -> np.ndarray:
    """Indices of the boxes kept by greedy non-maximum suppression, best first.

    `over_smaller`: overlap is the intersection over the smaller box instead of the union, so
    a box lying inside a bigger one counts as the same face."""
    order = np.argsort(-scores)
    x1, y1, x2, y2 = boxes.T
    areas = np.maximum(x2 - x1, 0) * np.maximum(y2 - y1, 0)
    keep = []
    while order.size:
        best, rest = order[0], order[1:]
        keep.append(best)
        w = np.maximum(0, np.minimum(x2[best], x2[rest]) - np.maximum(x1[best], x1[rest]))
        h = np.maximum(0, np.minimum(y2[best], y2[rest]) - np.maximum(y1[best], y1[rest]))
        if over_smaller:
            denominator = np.minimum(areas[best], areas[rest])
        else:
            denominator = areas[best] + areas[rest] - w * h
        overlap = w * h / np.maximum(denominator, 1e-9)
        order = rest[overlap <= iou]
    return np.array(keep, dtype=np.int64)


def detect_focused(
    detector: Detector,
    rgb: np.ndarray,
    coarse_upsample: int,
    fine_upsample: int,
    regions: list[Box],
) -> list[Detection]:
    """Detect over the whole image at a coarse scale, and at the fine scale only in `regions`.

    Small faces cost most to find (the fine pyramid levels hold most pixels); where they can be
    is often known already (in video, near the small faces of a recent full scan), so only
    those regions get the fine levels. Boxes found twice are kept once (the higher score).
    """
    found = list(detector(rgb, coarse_upsample))
    for region in regions:
        x1, y1, x2, y2 = (int(v) for v in clip_box(region, rgb.shape))
        if x2 - x1 < 16 or y2 - y1 < 16:
            continue
        x1, x2 = _snap(x1, x2, rgb.shape[1])
        y1, y2 = _snap(y1, y2, rgb.shape[0])
        crop = np.ascontiguousarray(rgb[y1:y2, x1:x2])
        for d in detector(crop, fine_upsample):
            shift = np.array([x1, y1], dtype=np.float32)
            found.append(
                Detection(
                    (d.box[0] + x1, d.box[1] + y1, d.box[2] + x1, d.box[3] + y1),
                    d.score,
                    d.detector,
                    None if d.keypoints is None else d.keypoints + shift,
                )
            )
    if not found:
        return []
    boxes = np.array([d.box for d in found], dtype=np.float64)
    return [found[k] for k in nms(boxes, np.array([d.score for d in found]), DUPLICATE_IOU)]


def _snap(start: int, stop: int, limit: int) -> tuple[int, int]:
    """[start, stop) grown about its centre to a multiple of REGION_STEP_PX (at most `limit`)
    and moved inside [0, limit): focused regions then come in few sizes, which detectors set
    up per image size (the MMOD pyramid graph) need."""
    size = min(limit, math.ceil((stop - start) / REGION_STEP_PX) * REGION_STEP_PX)
    start = min(max(0, (start + stop - size) // 2), limit - size)
    return start, start + size


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
