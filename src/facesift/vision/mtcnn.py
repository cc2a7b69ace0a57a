"""MTCNN: a learned three-stage face detector that is fast on a CPU, with five keypoints.

P-Net, a 12-pixel fully convolutional network, proposes faces over an image pyramid that starts
at the scale where the smallest wanted face is 12 px wide, so its cost falls with the square of
that width rather than growing with upsampling as HOG's does; R-Net (24×24) rejects most
proposals; O-Net (48×48) scores the rest, refines their boxes and places five keypoints (eye
centres, nose tip, mouth corners, image-left first). Thresholds, pyramid factor and box
regression are those published with the networks (Zhang et al. 2016; facenet-pytorch's
defaults), the stages run batched on ONNX Runtime (facesift.vision.models.mtcnn).
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from PIL import Image

from facesift.vision.align import ARCFACE_TEMPLATE_112, similarity_transform
from facesift.vision.detect import Detection, nms
from facesift.vision.face import Box
from facesift.vision.models.mtcnn import (
    INPUT_SIDE,
    MtcnnWeights,
    mtcnn_graphs,
    mtcnn_weights,
)
from facesift.vision.models.runtime import onnx_session

# The published thresholds of the three stages, and the pyramid's step between scales.
THRESHOLDS = (0.6, 0.7, 0.7)
PYRAMID_FACTOR = 0.709
PNET_CELL, PNET_STRIDE = 12, 2

# The pyramid starts where a face of 1.6× the smallest wanted width (a HOG-box width, which is
# what facesift's face widths are) is 12 px: MTCNN's own boxes are wider than HOG's, and P-Net
# also fires on faces somewhat smaller than its window. With 1.6, all rescaled LFW faces of
# 30 px are found from `smallest_face_px` 30 (benchmarks/results/detection.json), at 0.4× the
# P-Net pixels of 1.0 (a one-off trial on the same canvases, not kept as a result file: 1.4
# found no more, 1.8 found 98%).
MIN_SIZE_PER_FACE_PX = 1.6

# Where dlib's HOG detector frames a face, in the frame that maps MTCNN's five keypoints onto
# the ArcFace 112×112 template: square box centre (x, y) and side. Medians over LFW View 1
# DevTrain faces (benchmarks/detector_fit.py; benchmarks/results/detector_fit.json, which a
# refit with the present crops moved by 0.4 units: see tests/test_mtcnn.py).
DLIB_BOX_IN_TEMPLATE = (53.17, 69.51, 88.31)


class MtcnnDetector:
    """Boxes and keypoints of faces from `smallest_face_px` wide (halved per upsample step)."""

    name = "mtcnn"

    def __init__(self, smallest_face_px: float = 30.0, threads: int | None = None) -> None:
        self.smallest_face_px = float(smallest_face_px)
        self.model: MtcnnWeights = mtcnn_weights()
        self._threads = threads

    @property
    def sha256(self) -> str:
        return self.model.sha256

    @functools.cached_property
    def _sessions(self) -> dict[str, Any]:
        return {
            net: onnx_session(graph, self._threads)
            for net, graph in mtcnn_graphs(self.model).items()
        }

    def __call__(self, rgb: np.ndarray, upsample: int = 0) -> list[Detection]:
        rgb = np.ascontiguousarray(rgb[..., :3] if rgb.ndim == 3 else np.stack([rgb] * 3, -1))
        min_face = max(MIN_SIZE_PER_FACE_PX * self.smallest_face_px / 2**upsample, float(PNET_CELL))
        image = Image.fromarray(rgb)
        boxes = self._propose(image, min_face)
        if not len(boxes):
            return []
        crops = _CropSource(image)
        boxes = self._refine(crops, boxes)
        if not len(boxes):
            return []
        _, scores, points = self._finish(crops, boxes)
        return [
            Detection(dlib_box(p), float(s), self.name, p.astype(np.float32))
            for s, p in zip(scores, points, strict=True)
        ]

    def _propose(self, image: Image.Image, min_face: float) -> np.ndarray:
        """P-Net over the pyramid: square candidate boxes (n×4)."""
        width, height = image.size
        found = []
        scale = PNET_CELL / min_face
        level = image
        while min(height, width) * scale >= PNET_CELL:
            size = (max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale)))
            # Each level from the one before (at most 1/0.709 its size), not from the image.
            level = level.resize(size, Image.Resampling.BOX) if size != level.size else level
            pixels = np.asarray(level, np.float32).transpose(2, 0, 1)[None]
            prob, reg = self._sessions["pnet"].run(None, {"image": pixels})
            ys, xs = np.nonzero(prob[0, 1] >= THRESHOLDS[0])
            if len(ys):
                cells = np.stack([xs, ys], 1).astype(np.float64)
                boxes = np.concatenate(
                    [
                        np.floor((PNET_STRIDE * cells + 1) / scale),
                        np.floor((PNET_STRIDE * cells + PNET_CELL) / scale),
                    ],
                    1,
                )
                scores = prob[0, 1, ys, xs]
                offsets = reg[0][:, ys, xs].T
                keep = nms(boxes, scores, 0.5)
                found.append((boxes[keep], scores[keep], offsets[keep]))
            scale *= PYRAMID_FACTOR
        if not found:
            return np.zeros((0, 4))
        boxes, scores, offsets = (np.concatenate(parts) for parts in zip(*found, strict=True))
        keep = nms(boxes, scores, 0.7)
        boxes, offsets = boxes[keep], offsets[keep]
        sides = (boxes[:, 2:] - boxes[:, :2])[:, [0, 1, 0, 1]]
        return _square(boxes + offsets * sides)

    def _refine(self, crops: _CropSource, boxes: np.ndarray) -> np.ndarray:
        """R-Net: the candidates it keeps, regressed and squared."""
        prob, reg = self._sessions["rnet"].run(None, {"image": crops(boxes, INPUT_SIDE["rnet"])})
        keep = prob[:, 1] > THRESHOLDS[1]
        boxes, scores, reg = boxes[keep], prob[keep, 1], reg[keep]
        if not len(boxes):
            return boxes
        keep = nms(boxes, scores, 0.7)
        return _square(_regress(boxes[keep], reg[keep]))

    def _finish(
        self, crops: _CropSource, boxes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """O-Net: final boxes, scores and keypoints (n×5×2)."""
        prob, reg, points = self._sessions["onet"].run(
            None, {"image": crops(boxes, INPUT_SIDE["onet"])}
        )
        keep = prob[:, 1] > THRESHOLDS[2]
        boxes, scores, reg, points = boxes[keep], prob[keep, 1], reg[keep], points[keep]
        sides = boxes[:, 2:] - boxes[:, :2] + 1
        keypoints = np.stack(
            [
                sides[:, :1] * points[:, :5] + boxes[:, :1] - 1,
                sides[:, 1:] * points[:, 5:] + boxes[:, 1:2] - 1,
            ],
            axis=2,
        )
        boxes = _regress(boxes, reg)
        keep = nms(boxes, scores, 0.7, over_smaller=True)  # a box inside another: one face
        return boxes[keep], scores[keep], keypoints[keep]


def dlib_box(
    keypoints: np.ndarray, frame: tuple[float, float, float] = DLIB_BOX_IN_TEMPLATE
) -> Box:
    """The box dlib's HOG detector would give the face with these five keypoints.

    dlib's shape predictor, and through it the embedder's alignment, was trained on HOG's
    boxes, and facesift's face widths are HOG-box widths; MTCNN's own boxes are framed
    differently (taller, reaching the chin). The box is placed from the keypoints, which fix
    the face's position and scale, by the fitted `frame` (see DLIB_BOX_IN_TEMPLATE)."""
    matrix = similarity_transform(np.asarray(keypoints, np.float64), ARCFACE_TEMPLATE_112)
    linear = matrix[:, :2]
    scale = float(np.sqrt(abs(np.linalg.det(linear))))
    cx, cy = np.linalg.solve(linear, np.array(frame[:2]) - matrix[:, 2])
    half = frame[2] / scale / 2
    return (float(cx - half), float(cy - half), float(cx + half), float(cy + half))


def _regress(boxes: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    sides = (boxes[:, 2:] - boxes[:, :2] + 1)[:, [0, 1, 0, 1]]
    return boxes + offsets * sides


def _square(boxes: np.ndarray) -> np.ndarray:
    """Each box grown to a square about its centre, on whole pixels (crops are taken there)."""
    centre = (boxes[:, :2] + boxes[:, 2:]) / 2
    side = (boxes[:, 2:] - boxes[:, :2]).max(axis=1, keepdims=True)
    corner = np.trunc(centre - side / 2)
    return np.concatenate([corner, corner + np.trunc(side)], 1)


class _CropSource:
    """Square crops of an image resized to a network's input, for many boxes at once.

    A box is sampled bilinearly from the level of a halving pyramid (2×2 box filter) where it
    is between one and two times the input's side, which approximates the area filter that
    facenet-pytorch's reference cascade resizes with, at a fraction of its cost; pixels outside
    the image are zeros.
    Cropping and resizing box by box cost more than the networks themselves."""

    def __init__(self, image: Image.Image) -> None:
        self._images = [image]
        self._levels: dict[int, np.ndarray] = {}

    def _level(self, k: int) -> np.ndarray:
        """Level k (1/2^k of the image), with a one-pixel zero border."""
        if k not in self._levels:
            while len(self._images) <= k:
                self._images.append(self._images[-1].reduce(2))
            width, height = self._images[k].size
            padded = np.zeros((height + 2, width + 2, 3), np.uint8)
            padded[1:-1, 1:-1] = np.asarray(self._images[k])
            self._levels[k] = padded
        return self._levels[k]

    def __call__(self, boxes: np.ndarray, side: int) -> np.ndarray:
        """N×3×side×side float32 crops of the boxes (x1, y1, x2, y2)."""
        out = np.empty((len(boxes), side, side, 3), np.float32)
        lengths = np.maximum(boxes[:, 2:] - boxes[:, :2], 1.0)
        smallest = min(self._images[0].size)
        deepest = max(0, int(math.log2(max(smallest, 1))) - 1)
        levels = np.clip(np.floor(np.log2(lengths.max(axis=1) / side)), 0, deepest).astype(int)
        steps = (np.arange(side) + 0.5) / side
        for k in np.unique(levels):
            chosen = np.nonzero(levels == k)[0]
            pixels = self._level(int(k))
            scale = 2.0**-k
            xs = (boxes[chosen, 0:1] + steps * lengths[chosen, 0:1]) * scale - 0.5
            ys = (boxes[chosen, 1:2] + steps * lengths[chosen, 1:2]) * scale - 0.5
            out[chosen] = _bilinear(pixels, xs, ys)
        return np.ascontiguousarray(out.transpose(0, 3, 1, 2))


def _bilinear(padded: np.ndarray, xs: np.ndarray, ys: np.ndarray) -> np.ndarray:
    """n×len(ys)×len(xs)×3 float32 samples of `padded` (an image with a one-pixel zero border)
    at image coordinates xs (n×w) and ys (n×h); positions outside the image read zeros."""
    height, width = padded.shape[0] - 2, padded.shape[1] - 2
    flat = padded.reshape(-1, 3)
    x0, y0 = np.floor(xs), np.floor(ys)
    fx = (xs - x0).astype(np.float32)[:, None, :, None]
    fy = (ys - y0).astype(np.float32)[:, :, None, None]
    cols = [np.clip(x0 + d, -1, width).astype(np.int64)[:, None, :] + 1 for d in (0, 1)]
    rows = [(np.clip(y0 + d, -1, height).astype(np.int64)[:, :, None] + 1) * (width + 2)
            for d in (0, 1)]  # fmt: skip

    def at(row: np.ndarray, col: np.ndarray) -> np.ndarray:
        return np.take(flat, row + col, axis=0)  # faster than fancy indexing here

    top = at(rows[0], cols[0]) * (1 - fx) + at(rows[0], cols[1]) * fx
    bottom = at(rows[1], cols[0]) * (1 - fx) + at(rows[1], cols[1]) * fx
    return top * (1 - fy) + bottom * fy
