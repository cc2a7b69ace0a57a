"""Face alignment: similarity transforms from landmarks to a model's canonical crop."""

from __future__ import annotations

import numpy as np
from PIL import Image

# Where ArcFace-family models (InsightFace ArcFace, OpenCV SFace) expect the eye centres, nose
# tip and mouth corners in their 112×112 input, image-left eye first.
ARCFACE_TEMPLATE_112 = np.array(
    [
        [38.2946, 51.6963],
        [73.5318, 51.5014],
        [56.0252, 71.7366],
        [41.5493, 92.3655],
        [70.7299, 92.2041],
    ],
    dtype=np.float64,
)


def similarity_transform(src: np.ndarray, dst: np.ndarray) -> np.ndarray:
    """2×3 matrix of the least-squares similarity (rotation, scale, shift) taking src to dst.

    Umeyama's method, as InsightFace and OpenCV use for face alignment.
    """
    src = np.asarray(src, np.float64)
    dst = np.asarray(dst, np.float64)
    src_mean, dst_mean = src.mean(0), dst.mean(0)
    src_c, dst_c = src - src_mean, dst - dst_mean
    covariance = dst_c.T @ src_c / len(src)
    u, s, vt = np.linalg.svd(covariance)
    d = np.ones(2)
    if np.linalg.det(covariance) < 0:
        d[1] = -1
    rotation = u @ np.diag(d) @ vt
    variance = (src_c**2).sum() / len(src)
    scale = (s * d).sum() / variance if variance > 0 else 1.0
    matrix = np.zeros((2, 3))
    matrix[:, :2] = scale * rotation
    matrix[:, 2] = dst_mean - scale * rotation @ src_mean
    return matrix


def warp_affine(rgb: np.ndarray, matrix: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """The size=(width, height) crop where output pixel p shows input pixel matrix⁻¹·p."""
    inverse = np.linalg.inv(np.vstack([matrix, [0, 0, 1]]))[:2]
    image = Image.fromarray(rgb)
    warped = image.transform(
        size, Image.Transform.AFFINE, inverse.ravel().tolist(), Image.Resampling.BILINEAR
    )
    return np.asarray(warped)


def align_to_template(
    rgb: np.ndarray,
    points: np.ndarray,
    template: np.ndarray = ARCFACE_TEMPLATE_112,
    size: int = 112,
) -> np.ndarray:
    """The size×size chip in which the 5 landmarks `points` land on `template`."""
    return warp_affine(rgb, similarity_transform(points, template), (size, size))


def five_points_from_68(points: np.ndarray) -> np.ndarray:
    """Eye centres, nose tip and mouth corners (image-left first) from dlib's 68 landmarks."""
    p = np.asarray(points, np.float64)
    return np.array([p[36:42].mean(0), p[42:48].mean(0), p[30], p[48], p[54]])


# Where the comparison view puts the image-left eye centre, the image-right eye centre and the
# base of the nose, as fractions of the side of its square: every face is shown at one size
# and pose, so that two faces can be laid over each other.
COMPARISON_POINTS = np.array([[0.35, 0.40], [0.65, 0.40], [0.50, 0.60]], dtype=np.float64)


def align_for_comparison(
    rgb: np.ndarray, landmarks: np.ndarray, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """(size×size chip, the landmarks in it) of a face with dlib's 5 points (eye corners in
    pairs, then the base of the nose), its eye centres and nose on COMPARISON_POINTS."""
    points = np.asarray(landmarks, np.float64)
    eyes = sorted([points[0:2].mean(0), points[2:4].mean(0)], key=lambda e: float(e[0]))
    source = np.array([eyes[0], eyes[1], points[4]])
    matrix = similarity_transform(source, COMPARISON_POINTS * size)
    chip = warp_affine(rgb, matrix, (size, size))
    return chip, points @ matrix[:, :2].T + matrix[:, 2]
