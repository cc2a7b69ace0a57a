"""dlib's MMOD CNN face detector as an ONNX graph, with dlib's exact pre- and post-processing.

The network body is converted from `mmod_human_face_detector.dat`; its input, dlib's tiled
image pyramid, is built by a second graph (`facesift.vision.pyramid`) on the same execution
provider; around them this module reproduces what dlib does with the network's output
(dlib/dnn/loss.h, input.h and the Python binding). The tests hold its detections to dlib's
within 1 px per box coordinate and 1e-3 in score (tests/test_vision_mmod.py); on the 32
detections they compare, boxes were at most 1 px apart and scores at most 1.8e-6:

* Output cell (c, r) is the 80×80 window centred at tensor point (8c + 14, 8r + 14) — from the
  convolutions' strides, kernels and paddings — mapped back to the image through the nearest
  pyramid tile; windows scoring above 0 are kept, rounded, and suppressed greedily with dlib's
  overlap test (intersection over the pair's bounding box > 0.338, or one box covering the
  other).
* `upsample` doubles the image to (2h + 1)×(2w + 2) first, as the Python binding does, and
  boxes are mapped back with p/2 − (1.25, 0.75).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesift.vision.detect import MMOD_SMALLEST_FACE_PX, Detection
from facesift.vision.models import CNN_DETECTOR, bundled_model, dlib_format
from facesift.vision.models.convert import converted
from facesift.vision.models.runtime import onnx_session, run_chained
from facesift.vision.pyramid import Rect, TiledPyramid, round_half_up


@dataclass(frozen=True)
class MmodGeometry:
    """What the detector file says about its input, output mapping and suppression."""

    means: tuple[float, float, float]
    padding: int
    outer_padding: int
    convs: tuple[tuple[int, int, int], ...]  # (kernel, stride, padding), input side first
    window: tuple[int, int]
    nms_iou: float
    nms_covered: float

    @classmethod
    def read(cls, net: dlib_format.Network) -> MmodGeometry:
        inputs = net.input.attrs
        options = net.loss.attrs
        windows = options["detector_windows"]
        if len(windows) != 1 or options.get("use_bounding_box_regression") is True:
            raise dlib_format.DlibFormatError("only single-window MMOD detectors are supported")
        convs = tuple(
            (layer.attrs["nr"], layer.attrs["stride_y"], layer.attrs["padding_y"])
            for layer in net.body()
            if layer.type == "con"
        )
        return cls(
            means=(inputs["avg_red"], inputs["avg_green"], inputs["avg_blue"]),
            padding=inputs["pyramid_padding"],
            outer_padding=inputs["pyramid_outer_padding"],
            convs=convs,
            window=(windows[0]["width"], windows[0]["height"]),
            nms_iou=options["overlaps_nms"]["iou_thresh"],
            nms_covered=options["overlaps_nms"]["percent_covered_thresh"],
        )


class MmodOnnxDetector:
    """dlib's MMOD CNN detector on ONNX Runtime: dlib's detections, boxes within 1 px and
    scores within 1e-3 (see the module's docstring)."""

    name = "dlib_mmod_cnn"
    smallest_face_px = MMOD_SMALLEST_FACE_PX

    def __init__(self) -> None:
        self.model = bundled_model(CNN_DETECTOR)
        net = dlib_format.resolve_tags(
            dlib_format.read_network(self.model.path), dlib_format.mmod_template()
        )
        self.geometry = MmodGeometry.read(net)
        self.pyramid = TiledPyramid(
            self.geometry.means, self.geometry.padding, self.geometry.outer_padding
        )

    @functools.cached_property
    def _session(self) -> Any:
        return onnx_session(converted(self.model, "mmod"))

    def __call__(self, rgb: np.ndarray, upsample: int = 0) -> list[Detection]:
        layout = self.pyramid.layout(rgb.shape[0], rgb.shape[1], upsample)
        if layout.empty:
            return []
        image = np.ascontiguousarray(rgb, np.uint8)
        scores = run_chained(self.pyramid.session(layout), self._session, {"image": image})
        detections = []
        found = decode(scores[0, 0], layout.rects, self.geometry, upsample)
        for left, top, right, bottom, score in found:
            box = (float(left), float(top), float(right + 1), float(bottom + 1))
            detections.append(Detection(box, score, self.name))
        return detections


# ------------------------------------------------------------------------------ decoding


def _nearest_level(rects: Sequence[Rect], x: int, y: int) -> int:
    best, index = math.inf, 0
    for k, (left, top, right, bottom) in enumerate(rects):
        if left <= x <= right and top <= y <= bottom:
            return k
        distance = math.hypot(min(max(x, left), right) - x, min(max(y, top), bottom) - y)
        if distance < best:
            best, index = distance, k
    return index


def _to_image(rects: Sequence[Rect], box: tuple[float, float, float, float]) -> Rect:
    """A box in tensor coordinates mapped into its pyramid level, then up to level 0."""
    left, top, right, bottom = box
    level = _nearest_level(
        rects, round_half_up((left + right) / 2), round_half_up((top + bottom) / 2)
    )
    x0, y0 = rects[level][0], rects[level][1]
    corners = []
    for x, y in ((left - x0, top - y0), (right - x0, bottom - y0)):
        for _ in range(level):
            x, y = x * (6 / 5) + 0.3, y * (6 / 5) + 0.3
        corners.append((x, y))
    (x1, y1), (x2, y2) = corners
    left, top, right, bottom = min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)
    return (round_half_up(left), round_half_up(top), round_half_up(right), round_half_up(bottom))


def _area(rect: Rect) -> int:
    left, top, right, bottom = rect
    return 0 if left > right or top > bottom else (right - left + 1) * (bottom - top + 1)


def _overlapping(a: Rect, b: Rect, iou: float, covered: float) -> bool:
    """dlib's test_box_overlap: note the divisor is the pair's bounding box, not the union."""
    inner = _area((max(a[0], b[0]), max(a[1], b[1]), min(a[2], b[2]), min(a[3], b[3])))
    if inner == 0:
        return False
    outer = _area((min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])))
    return inner / outer > iou or inner / _area(a) > covered or inner / _area(b) > covered


def decode(
    scores: np.ndarray, rects: Sequence[Rect], geometry: MmodGeometry, upsample: int = 0
) -> list[tuple[int, int, int, int, float]]:
    """Detections (left, top, right, bottom inclusive, score) in the caller's image, best first."""
    rows, cols = np.nonzero(scores.astype(np.float64) > 0.0)
    candidates = []
    half_w, half_h = (geometry.window[0] - 1) / 2, (geometry.window[1] - 1) / 2
    for r, c in zip(rows.tolist(), cols.tolist(), strict=True):
        x, y = c, r
        for kernel, stride, padding in reversed(geometry.convs):
            x, y = x * stride - padding + kernel // 2, y * stride - padding + kernel // 2
        rect = _to_image(rects, (x - half_w, y - half_h, x + half_w, y + half_h))
        candidates.append((float(scores[r, c]), r * scores.shape[1] + c, rect))
    candidates.sort(key=lambda item: (item[0], item[1]), reverse=True)
    kept: list[tuple[float, Rect]] = []
    for score, _, rect in candidates:
        if not any(_overlapping(k, rect, geometry.nms_iou, geometry.nms_covered) for _, k in kept):
            kept.append((score, rect))
    out = []
    for score, rect in kept:
        left, top, right, bottom = (float(v) for v in rect)
        for _ in range(upsample):
            left, top, right, bottom = (
                left / 2 - 1.25,
                top / 2 - 0.75,
                right / 2 - 1.25,
                bottom / 2 - 0.75,
            )
        left, top, right, bottom = (round_half_up(v) for v in (left, top, right, bottom))
        out.append((left, top, right, bottom, score))
    return out
