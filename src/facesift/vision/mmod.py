"""dlib's MMOD CNN face detector as an ONNX graph, with dlib's exact pre- and post-processing.

The network body is converted from `mmod_human_face_detector.dat`; around it this module
reproduces, in numpy, what dlib does (dlib/dnn/input.h, loss.h, image_pyramid.h,
interpolation.h, and the Python binding's upsampling), so that boxes are identical and scores
agree to ~1e-6:

* The input is a tiled image pyramid: level 0 is the image as (pixel − mean) / 256; each next
  level is a float bilinear resize of the previous one to floor(5/6 · size) (dlib's SIMD
  resize, reproduced to the bit), laid out in columns with 10 px padding and 11 px outer
  padding, until a level is under 5 px high.
* Output cell (c, r) is the 80×80 window centred at tensor point (8c + 14, 8r + 14) — from the
  convolutions' strides, kernels and paddings — mapped back to the image through the nearest
  pyramid tile; windows scoring above 0 are kept, rounded, and suppressed greedily with dlib's
  overlap test (intersection over the pair's bounding box > 0.338, or one box covering the
  other).
* `upsample` doubles the image to (2h + 1)×(2w + 2) first, as the Python binding does, and
  maps boxes back with p/2 − (1.25, 0.75).
"""

from __future__ import annotations

import functools
import itertools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesift.vision.detect import Detection
from facesift.vision.models import CNN_DETECTOR, bundled_model, dlib_format
from facesift.vision.models.convert import converted
from facesift.vision.models.runtime import onnx_session

PYRAMID_RATE = 5.0 / 6.0  # pyramid_down<6>
MIN_LEVEL_HEIGHT = 5
Rect = tuple[int, int, int, int]  # dlib style: inclusive left, top, right, bottom


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
    """dlib's MMOD CNN detector on ONNX Runtime: dlib's detections, several times faster."""

    name = "dlib_mmod_cnn"

    def __init__(self) -> None:
        self.model = bundled_model(CNN_DETECTOR)
        net = dlib_format.resolve_tags(
            dlib_format.read_network(self.model.path), dlib_format.mmod_template()
        )
        self.geometry = MmodGeometry.read(net)

    @functools.cached_property
    def _session(self) -> Any:
        return onnx_session(converted(self.model, "mmod"))

    def __call__(self, rgb: np.ndarray, upsample: int = 0) -> list[Detection]:
        image = np.asarray(rgb, np.uint8)
        for _ in range(upsample):
            image = upsample_twice(image)
        tensor, rects = pyramid_tensor(image, self.geometry)
        if not rects or min(image.shape[:2]) < 10:
            return []  # dlib's tiling is undefined for images under 10 px
        scores = self._session.run(None, {"pyramid": tensor})[0][0, 0]
        detections = []
        for left, top, right, bottom, score in decode(scores, rects, self.geometry, upsample):
            box = (float(left), float(top), float(right + 1), float(bottom + 1))
            detections.append(Detection(box, score, self.name))
        return detections


# ---------------------------------------------------------------------------- the pyramid


def level_rects(rows: int, cols: int, padding: int, outer: int) -> tuple[list[Rect], int, int]:
    """Where each pyramid level sits in the tiled image, and the tiled image's size.

    dlib's compute_tiled_image_pyramid_details: level 0 on the left, the following levels
    stacked below it until half the height, the rest up a second column from the bottom.
    """
    if rows * cols == 0:
        return [], 0, 0
    sizes = [(rows, cols)]
    while True:
        rows, cols = math.floor(PYRAMID_RATE * rows), math.floor(PYRAMID_RATE * cols)
        if rows * cols == 0 or rows < MIN_LEVEL_HEIGHT:
            break
        sizes.append((rows, cols))
    first_h, first_w = sizes[0]
    total_height = sum(h + padding for h, _ in sizes) - 2 * padding
    wrap = 1 << 64  # dlib compares these widths and heights as unsigned 64-bit integers
    height = previous_width = 0
    for h, w in sizes:
        fits_beside = w <= (first_w - previous_width - padding) % wrap
        below_half = ((height - first_h) % wrap * 2) % wrap >= (total_height - first_h) % wrap
        if fits_beside and below_half:
            break
        height += h + padding
        previous_width = w
    height -= padding
    rects: list[Rect] = []
    y = outer
    for h, w in sizes:
        if y >= height + outer:
            break
        rects.append((outer, y, outer + w - 1, y + h - 1))
        y += h + padding
    y -= padding
    for h, w in sizes[len(rects) :]:
        right, bottom = outer + first_w - 1, y - 1
        rect = (right - (w - 1), bottom - (h - 1), right, bottom)
        if _overlap(rects[0], rect):
            break
        rects.append(rect)
        y -= h + padding
    return rects, height + 2 * outer, first_w + 2 * outer


def _overlap(a: Rect, b: Rect) -> bool:
    return max(a[0], b[0]) <= min(a[2], b[2]) and max(a[1], b[1]) <= min(a[3], b[3])


def pyramid_tensor(rgb: np.ndarray, geometry: MmodGeometry) -> tuple[np.ndarray, list[Rect]]:
    """The network input [1, 3, H, W] float32 and the rectangle of each level in it."""
    rects, rows, cols = level_rects(
        rgb.shape[0], rgb.shape[1], geometry.padding, geometry.outer_padding
    )
    tensor = np.zeros((3, rows, cols), np.float32)
    if not rects:
        return tensor[None], rects
    means = np.array(geometry.means, np.float32)[:, None, None]
    left, top, right, bottom = rects[0]
    level0 = rgb.transpose(2, 0, 1).astype(np.float32)
    tensor[:, top : bottom + 1, left : right + 1] = (level0 - means) / np.float32(256.0)
    for previous, rect in itertools.pairwise(rects):
        pl, pt, pr, pb = previous
        left, top, right, bottom = rect
        tensor[:, top : bottom + 1, left : right + 1] = resize_float(
            tensor[:, pt : pb + 1, pl : pr + 1], bottom - top + 1, right - left + 1
        )
    return tensor[None], rects


@dataclass(frozen=True)
class _Sampling:
    """dlib's bilinear sampling positions: a SIMD part (float32 x) and a scalar tail."""

    left: np.ndarray
    right: np.ndarray
    frac: np.ndarray  # float32
    tail_left: np.ndarray
    tail_right: np.ndarray
    tail_frac: np.ndarray  # float32, for float images
    tail_frac64: np.ndarray  # float64, for 8-bit images


def _columns(in_cols: int, out_cols: int) -> _Sampling:
    """Column positions as dlib's SSE resize computes them (interpolation.h, resize_image).

    x advances in float32 blocks of 4 until a block's last right neighbour would leave the row;
    the remaining columns advance in float64.
    """
    x_scale = (in_cols - 1) / float(max(out_cols - 1, 1))
    start = -4 * x_scale
    block = np.array([start, start + x_scale, start + 2 * x_scale, start + 3 * x_scale])
    step = np.float32(4 * x_scale)
    blocks = out_cols // 4 + 2
    xs = np.empty((blocks, 4), np.float32)
    current = block.astype(np.float32)
    for k in range(blocks):  # sequential float32 accumulation, as in the SIMD loop
        current = (current + step).astype(np.float32)
        xs[k] = current
    lefts = xs.astype(np.int64)
    count = 0
    while count < blocks and lefts[count, 3] + 1 < in_cols:
        count += 1
    xs, lefts = xs[:count].reshape(-1), lefts[:count].reshape(-1)
    simd = count * 4
    tail = np.empty(out_cols - simd)
    x = -x_scale + simd * x_scale
    for k in range(len(tail)):
        x += x_scale
        tail[k] = x
    tail_left = np.floor(tail).astype(np.int64)
    return _Sampling(
        left=lefts,
        right=lefts + 1,
        frac=(xs - lefts.astype(np.float32)).astype(np.float32),
        tail_left=tail_left,
        tail_right=np.minimum(tail_left + 1, in_cols - 1),
        tail_frac=(tail - tail_left).astype(np.float32),
        tail_frac64=tail - tail_left,
    )


def _rows(in_rows: int, out_rows: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    y_scale = (in_rows - 1) / float(max(out_rows - 1, 1))
    steps = np.concatenate([[-y_scale], np.full(out_rows, y_scale)])
    y = np.add.accumulate(steps)[1:]  # y = -y_scale, then y += y_scale per row, in order
    top = np.floor(y).astype(np.int64)
    return top, np.minimum(top + 1, in_rows - 1), y - top


def _blend_simd(
    source: np.ndarray, top: np.ndarray, bottom: np.ndarray, frac: np.ndarray, cols: _Sampling
) -> np.ndarray:
    """The SIMD columns of dlib's bilinear resize: float32 weights, summed in dlib's order."""
    below = frac.astype(np.float32)[:, None]
    above = (1 - frac).astype(np.float32)[:, None]
    keep = (np.float32(1) - cols.frac).astype(np.float32)[None, :]
    right = cols.frac[None, :]
    upper, lower = source[:, top], source[:, bottom]
    value = (above * keep) * upper[:, :, cols.left]
    value = value + (above * right) * upper[:, :, cols.right]
    value = value + (below * keep) * lower[:, :, cols.left]
    return value + (below * right) * lower[:, :, cols.right]


def resize_float(channels: np.ndarray, out_rows: int, out_cols: int) -> np.ndarray:
    """dlib's bilinear resize_image of float images (C×H×W), bit for bit."""
    _, in_rows, in_cols = channels.shape
    out = np.zeros((channels.shape[0], out_rows, out_cols), np.float32)
    if out.size == 0 or channels.size == 0:
        return out
    cols = _columns(in_cols, out_cols)
    top, bottom, frac = _rows(in_rows, out_rows)
    simd = len(cols.left)
    if simd:
        out[:, :, :simd] = _blend_simd(channels, top, bottom, frac, cols)
    if len(cols.tail_left):
        keep, lr = (np.float32(1) - cols.tail_frac).astype(np.float32), cols.tail_frac
        upper = (
            keep * channels[:, top][:, :, cols.tail_left]
            + lr * channels[:, top][:, :, cols.tail_right]
        )
        lower = (
            keep * channels[:, bottom][:, :, cols.tail_left]
            + lr * channels[:, bottom][:, :, cols.tail_right]
        )
        blended = (1 - frac)[:, None] * upper.astype(np.float64) + frac[:, None] * lower.astype(
            np.float64
        )
        out[:, :, simd:] = blended.astype(np.float32)
    return out


def upsample_twice(rgb: np.ndarray) -> np.ndarray:
    """pyramid_up with pyramid_down<2>, as dlib's Python detector upsamples: (2h+1)×(2w+2)."""
    rows, cols = rgb.shape[:2]
    out_rows, out_cols = _round(((rows - 1) + 0.75) * 2) + 1, _round(((cols - 1) + 1.25) * 2) + 1
    source = rgb.astype(np.float32).transpose(2, 0, 1)
    out = np.zeros((3, out_rows, out_cols), np.uint8)
    cols_ = _columns(cols, out_cols)
    top, bottom, frac = _rows(rows, out_rows)
    simd = len(cols_.left)
    if simd:
        blended = _blend_simd(source, top, bottom, frac, cols_)
        out[:, :, :simd] = blended.astype(np.int32).astype(np.uint8)
    if len(cols_.tail_left):
        wide = rgb.astype(np.float64).transpose(2, 0, 1)
        lr = cols_.tail_frac64
        upper = (1 - lr) * wide[:, top][:, :, cols_.tail_left] + lr * wide[:, top][
            :, :, cols_.tail_right
        ]
        lower = (1 - lr) * wide[:, bottom][:, :, cols_.tail_left] + lr * wide[:, bottom][
            :, :, cols_.tail_right
        ]
        blended = (1 - frac)[:, None] * upper + frac[:, None] * lower
        out[:, :, simd:] = blended.astype(np.int64).astype(np.uint8)
    return np.ascontiguousarray(out.transpose(1, 2, 0))


# ------------------------------------------------------------------------------ decoding


def _round(value: float) -> int:
    return math.floor(value + 0.5)


def _nearest_level(rects: list[Rect], x: int, y: int) -> int:
    best, index = math.inf, 0
    for k, (left, top, right, bottom) in enumerate(rects):
        if left <= x <= right and top <= y <= bottom:
            return k
        distance = math.hypot(min(max(x, left), right) - x, min(max(y, top), bottom) - y)
        if distance < best:
            best, index = distance, k
    return index


def _to_image(rects: list[Rect], box: tuple[float, float, float, float]) -> Rect:
    """A box in tensor coordinates mapped into its pyramid level, then up to level 0."""
    left, top, right, bottom = box
    level = _nearest_level(rects, _round((left + right) / 2), _round((top + bottom) / 2))
    x0, y0 = rects[level][0], rects[level][1]
    corners = []
    for x, y in ((left - x0, top - y0), (right - x0, bottom - y0)):
        for _ in range(level):
            x, y = x * (6 / 5) + 0.3, y * (6 / 5) + 0.3
        corners.append((x, y))
    (x1, y1), (x2, y2) = corners
    return (_round(min(x1, x2)), _round(min(y1, y2)), _round(max(x1, x2)), _round(max(y1, y2)))


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
    scores: np.ndarray, rects: list[Rect], geometry: MmodGeometry, upsample: int = 0
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
        out.append((_round(left), _round(top), _round(right), _round(bottom), score))
    return out
