"""Plug-in ONNX face detectors: InsightFace SCRFD and OpenCV YuNet.

Both return boxes and five keypoints (eye centres, nose tip, mouth corners, image-left first),
which ArcFace-family embedders align on.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facesift.vision.detect import Detection, nms

DEFAULT_INPUT_SIZE = 640
SCORE_THRESHOLD = 0.5
NMS_IOU = 0.4


def letterbox(rgb: np.ndarray, width: int, height: int) -> tuple[np.ndarray, float]:
    """`rgb` scaled to fit width×height (aspect kept), padded right and bottom with zeros."""
    scale = min(width / rgb.shape[1], height / rgb.shape[0])
    new_w, new_h = max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))
    resized = np.asarray(Image.fromarray(rgb).resize((new_w, new_h), Image.Resampling.BILINEAR))
    canvas = np.zeros((height, width, 3), np.uint8)
    canvas[:new_h, :new_w] = resized
    return canvas, scale


def _input_size(session: Any) -> tuple[int, int]:
    shape = session.get_inputs()[0].shape
    h, w = shape[2], shape[3]
    if isinstance(h, int) and isinstance(w, int) and h > 0 and w > 0:
        return w, h
    return DEFAULT_INPUT_SIZE, DEFAULT_INPUT_SIZE


class _OnnxDetector:
    name = "onnx"
    smallest_face_px = 0.0  # no upsampling: the image is letterboxed to the model's input

    def __init__(self, path: str | Path, session: Any) -> None:
        self.path = Path(path)
        self._session = session
        self._input = session.get_inputs()[0].name
        self.width, self.height = _input_size(session)
        self.score_threshold = SCORE_THRESHOLD

    @functools.cached_property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    def __call__(self, rgb: np.ndarray, upsample: int = 0) -> list[Detection]:
        canvas, scale = letterbox(rgb, self.width, self.height)
        outputs = self._session.run(None, {self._input: self._blob(canvas)})
        boxes, scores, points = self._decode(outputs)
        if not len(scores):
            return []
        keep = nms(boxes, scores, NMS_IOU)
        return [
            Detection(
                _box(boxes[k] / scale),
                float(scores[k]),
                self.name,
                points[k] / scale,
            )
            for k in keep
        ]

    def _blob(self, canvas: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        raise NotImplementedError


class ScrfdDetector(_OnnxDetector):
    """InsightFace SCRFD: anchor-free distances at strides 8/16/32 (or 8…128)."""

    name = "scrfd"

    def __init__(self, path: str | Path, session: Any) -> None:
        super().__init__(path, session)
        count = len(session.get_outputs())
        self.levels = 3 if count in (6, 9) else 5
        self.strides = [8, 16, 32] if self.levels == 3 else [8, 16, 32, 64, 128]
        self.anchors_per_cell = 2 if self.levels == 3 else 1
        self.with_keypoints = count in (9, 15)
        self.name = f"scrfd:{self.path.stem}"

    def _blob(self, canvas: np.ndarray) -> np.ndarray:
        return ((canvas.astype(np.float32) - 127.5) / 128.0).transpose(2, 0, 1)[None]

    def _decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        outputs = [o[0] if o.ndim == 3 else o for o in outputs]  # batched exports
        boxes, scores, points = [], [], []
        for level, stride in enumerate(self.strides):
            rows, cols = self.height // stride, self.width // stride
            ys, xs = np.mgrid[:rows, :cols]
            centres = np.stack([xs, ys], -1).reshape(-1, 2).astype(np.float32) * stride
            centres = np.repeat(centres, self.anchors_per_cell, axis=0)
            level_scores = outputs[level].reshape(-1)
            distances = outputs[level + self.levels].reshape(-1, 4) * stride
            keep = level_scores >= self.score_threshold
            c, d = centres[keep], distances[keep]
            boxes.append(np.concatenate([c - d[:, :2], c + d[:, 2:]], axis=1))
            scores.append(level_scores[keep])
            if self.with_keypoints:
                offsets = outputs[level + 2 * self.levels].reshape(-1, 10)[keep] * stride
                points.append(c[:, None, :] + offsets.reshape(-1, 5, 2))
            else:
                points.append(np.full((int(keep.sum()), 5, 2), np.nan, np.float32))
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)


class YunetDetector(_OnnxDetector):
    """OpenCV YuNet (2023): per-cell class and objectness scores, box and keypoint offsets."""

    name = "yunet"
    strides = (8, 16, 32)

    def __init__(self, path: str | Path, session: Any) -> None:
        super().__init__(path, session)
        self._names = [o.name for o in session.get_outputs()]
        self.name = f"yunet:{self.path.stem}"

    def _blob(self, canvas: np.ndarray) -> np.ndarray:
        return canvas[:, :, ::-1].astype(np.float32).transpose(2, 0, 1)[None]  # BGR, 0–255

    def _decode(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        named = dict(zip(self._names, outputs, strict=True))
        boxes, scores, points = [], [], []
        for stride in self.strides:
            cols = self.width // stride
            cls = np.clip(named[f"cls_{stride}"].reshape(-1), 0, 1)
            obj = np.clip(named[f"obj_{stride}"].reshape(-1), 0, 1)
            level_scores = np.sqrt(cls * obj)
            keep = level_scores >= self.score_threshold
            cells = np.nonzero(keep)[0]
            grid = np.stack([cells % cols, cells // cols], -1).astype(np.float32)
            bbox = named[f"bbox_{stride}"].reshape(-1, 4)[keep]
            centre = (grid + bbox[:, :2]) * stride
            size = np.exp(bbox[:, 2:]) * stride
            boxes.append(np.concatenate([centre - size / 2, centre + size / 2], axis=1))
            kps = named[f"kps_{stride}"].reshape(-1, 5, 2)[keep]
            points.append((kps + grid[:, None, :]) * stride)
            scores.append(level_scores[keep])
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(points)


def _box(values: np.ndarray) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (float(v) for v in values[:4])
    return x1, y1, x2, y2
