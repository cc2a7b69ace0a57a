"""The one container for a detected face, passed from detection to matching and storage."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar

import numpy as np

from facesift.vision.quality import Quality

Box = tuple[float, float, float, float]


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two (x0, y0, x1, y1) boxes: 1 for the same box, 0 apart."""
    width = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    height = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


@dataclass(frozen=True, eq=False)
class Face:
    """A face found in an image.

    `bbox` is (x1, y1, x2, y2) in pixels of the original, upright image; `landmarks` is an
    N×2 array of (x, y) points in the same frame (dlib's 5-point layout: the outer and inner
    corners of each eye, then the base of the nose); `embedding` is the model's float32 vector.
    `chip` is the aligned 150×150 RGB crop the embedding was computed from.
    `low_res_embedding`, made for gallery faces, is the face's low-resolution template
    (see facesift.vision.lowres).
    """

    bbox: Box
    landmarks: np.ndarray
    det_score: float
    detector: str
    quality: Quality
    embedding: np.ndarray
    chip: np.ndarray | None = field(default=None, repr=False)
    low_res_embedding: np.ndarray | None = field(default=None, repr=False)

    @property
    def width(self) -> float:
        return self.bbox[2] - self.bbox[0]

    @property
    def height(self) -> float:
        return self.bbox[3] - self.bbox[1]

    @property
    def area(self) -> float:
        return self.width * self.height


# A second face at least this fraction of the largest one's width makes "the" face ambiguous
# (detector boxes of equal faces differ by up to ~20% between pyramid levels).
AMBIGUOUS_WIDTH_RATIO = 0.8


# Among faces of similar size, one whose detector score is this many times the others' wins.
DOMINANT_SCORE_RATIO = 2.0


class HasBox(Protocol):
    @property
    def bbox(self) -> Box: ...

    @property
    def det_score(self) -> float: ...


F = TypeVar("F", bound=HasBox)


def _width(face: HasBox) -> float:
    return face.bbox[2] - face.bbox[0]


def _area(face: HasBox) -> float:
    return _width(face) * (face.bbox[3] - face.bbox[1])


def choose_primary(
    faces: Sequence[F], image_shape: tuple[int, ...], prefer: str = "largest"
) -> tuple[F | None, str]:
    """Pick the face a photo is "of", and say why; None with the reason when it is ambiguous.

    `prefer="largest"` takes the largest face; when others are nearly as large, the one the
    detector is far surer of, else none (ambiguous);
    `prefer="central"` takes the face nearest the image centre (for datasets, such as LFW,
    whose photos are centred on their subject).
    """
    if not faces:
        return None, "no face found"
    if len(faces) == 1:
        return faces[0], "one face"
    if prefer == "central":
        cy, cx = image_shape[0] / 2, image_shape[1] / 2

        def offset(f: F) -> float:
            x1, y1, x2, y2 = f.bbox
            return ((x1 + x2) / 2 - cx) ** 2 + ((y1 + y2) / 2 - cy) ** 2

        return min(faces, key=offset), f"{len(faces)} faces: took the one nearest the centre"
    if prefer != "largest":
        raise ValueError(f"unknown preference {prefer!r}: choose 'largest' or 'central'")
    ranked = sorted(faces, key=_area, reverse=True)
    similar = [f for f in ranked if _width(f) >= AMBIGUOUS_WIDTH_RATIO * _width(ranked[0])]
    if len(similar) == 1:
        return ranked[0], (
            f"{len(faces)} faces: took the largest ({_width(ranked[0]):.0f} px wide; "
            f"next {_width(ranked[1]):.0f} px)"
        )
    by_score = sorted(similar, key=lambda f: f.det_score, reverse=True)
    best, runner_up = by_score[0], by_score[1]
    if best.det_score > 0 and best.det_score >= DOMINANT_SCORE_RATIO * max(runner_up.det_score, 0):
        return best, (
            f"{len(faces)} faces: took the clearest of {len(similar)} of similar size "
            f"(detector score {best.det_score:.2f}; next {runner_up.det_score:.2f})"
        )
    return None, (
        f"{len(faces)} faces, {len(similar)} of similar size and detector score: "
        "ambiguous, crop the photo to the person"
    )
