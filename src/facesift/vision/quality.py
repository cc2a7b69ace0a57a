"""How usable a face image is for recognition: size and sharpness, as numbers and flags.

Recognition errs more on small and blurred faces; these measures let results say so and let
templates prefer good shots.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Below this face width (detector box, pixels of the original) the embedding degrades quickly.
SMALL_FACE_PX = 40.0
# Variance of the Laplacian on the 150×150 aligned chip; sharp LFW faces score several hundred.
BLURRY_SHARPNESS = 60.0
GOOD_FACE_PX = 100.0
GOOD_SHARPNESS = 250.0


@dataclass(frozen=True)
class Quality:
    """Face size in pixels of the original image, chip sharpness, and a 0–1 summary."""

    face_px: float
    sharpness: float
    score: float

    @property
    def flags(self) -> tuple[str, ...]:
        flags = []
        if self.face_px < SMALL_FACE_PX:
            flags.append("small")
        if self.sharpness < BLURRY_SHARPNESS:
            flags.append("blurry")
        return tuple(flags)


def laplacian_variance(grey: np.ndarray) -> float:
    """Variance of the 4-neighbour Laplacian: low for blurred images."""
    g = grey.astype(np.float32)
    lap = g[1:-1, :-2] + g[1:-1, 2:] + g[:-2, 1:-1] + g[2:, 1:-1] - 4.0 * g[1:-1, 1:-1]
    return float(lap.var())


def assess_quality(chip: np.ndarray, face_px: float) -> Quality:
    """Quality of an aligned RGB chip whose face measured `face_px` in the original image."""
    grey = chip.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    # Judge sharpness on the central face region, not the padded background.
    h, w = grey.shape
    sharpness = laplacian_variance(grey[h // 5 : h - h // 5, w // 5 : w - w // 5])
    size_term = float(
        np.clip((face_px - SMALL_FACE_PX / 2) / (GOOD_FACE_PX - SMALL_FACE_PX / 2), 0, 1)
    )
    sharp_term = float(np.clip(sharpness / GOOD_SHARPNESS, 0, 1))
    return Quality(
        face_px=float(face_px), sharpness=sharpness, score=round(size_term * sharp_term, 4)
    )
