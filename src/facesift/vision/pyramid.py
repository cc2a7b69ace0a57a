"""dlib's tiled image pyramid, the MMOD detector's input, built by ONNX Runtime.

dlib (dlib/dnn/input.h, image_pyramid.h, interpolation.h) lays out the levels of a
pyramid_down<6> pyramid in one float tensor: level 0 is the image as (pixel − mean) / 256, each
next level a bilinear resize of the previous one to floor(5/6 · size), until a level is under
5 px high. For a 1080p frame upsampled once that tensor is 3×7814×3864 floats: built in numpy it
took longer than the network's run on it, and copying it to a GPU took longer than the network
there. So the pyramid is an ONNX graph fed the 8-bit image and run by the network's execution
provider: the tensor is made where it is used.

A graph is specific to one image size (sampling positions and tile layout are its constants)
and reproduces dlib's arithmetic to the bit: the SIMD part of resize_image in float32 in dlib's
order of operations, the last columns in float64 as dlib's scalar loop does them, and the
Python binding's upsampling (pyramid_up to (2h+1)×(2w+2), truncated to 8 bits).
"""

from __future__ import annotations

import itertools
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import numpy as np
from onnx import TensorProto, helper

from facesift.vision.models.convert import GraphBuilder, finish_model
from facesift.vision.models.runtime import onnx_session

PYRAMID_RATE = 5.0 / 6.0  # pyramid_down<6>
MIN_LEVEL_HEIGHT = 5
MIN_IMAGE_SIDE = 10  # dlib's tiling is undefined below this
# Graphs for this many image sizes stay loaded: a video's frame size and its focused regions
# (detect_focused), a photo collection's few camera formats.
SESSIONS_KEPT = 16
Rect = tuple[int, int, int, int]  # dlib style: inclusive left, top, right, bottom


def round_half_up(value: float) -> int:
    """dlib's rounding of coordinates: floor(v + 0.5)."""
    return math.floor(value + 0.5)


def upsampled_size(rows: int, cols: int) -> tuple[int, int]:
    """The size dlib's pyramid_up gives an image: (2h + 1)×(2w + 2)."""
    return round_half_up(((rows - 1) + 0.75) * 2) + 1, round_half_up(((cols - 1) + 1.25) * 2) + 1


@dataclass(frozen=True)
class PyramidLayout:
    """Where everything sits for one image size: the scanned size and each level's tile."""

    image: tuple[int, int]  # rows, cols of the 8-bit input
    upsample: int
    scanned: tuple[int, int]  # rows, cols after upsampling: level 0
    rects: tuple[Rect, ...]  # each level's tile in the tensor
    shape: tuple[int, int]  # rows, cols of the tensor

    @classmethod
    def of(cls, rows: int, cols: int, upsample: int, padding: int, outer: int) -> PyramidLayout:
        scanned = (rows, cols)
        for _ in range(upsample):
            scanned = upsampled_size(*scanned)
        if min(scanned) < MIN_IMAGE_SIDE:  # a sliver of pixels: no tiling, nothing to scan
            return cls((rows, cols), upsample, scanned, (), (0, 0))
        rects, tensor_rows, tensor_cols = level_rects(*scanned, padding, outer)
        return cls((rows, cols), upsample, scanned, tuple(rects), (tensor_rows, tensor_cols))

    @property
    def empty(self) -> bool:
        """Nothing to scan. Under 10 px dlib's tiling is undefined; up to ~54 px wide its
        tiles overlap (dlib then resizes a level onto itself), and no face fills the
        detector's 80 px window there anyway."""
        tiles_overlap = any(_overlap(a, b) for a, b in itertools.combinations(self.rects, 2))
        return not self.rects or min(self.scanned) < MIN_IMAGE_SIDE or tiles_overlap


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


def _size(rect: Rect) -> tuple[int, int]:
    return rect[3] - rect[1] + 1, rect[2] - rect[0] + 1


class TiledPyramid:
    """dlib's pyramid tensor for images of any size, from one cached graph per size."""

    def __init__(self, means: tuple[float, float, float], padding: int, outer: int) -> None:
        self.means = means
        self.padding = padding
        self.outer = outer
        self._sessions: OrderedDict[tuple[int, int, int], Any] = OrderedDict()

    def layout(self, rows: int, cols: int, upsample: int) -> PyramidLayout:
        return PyramidLayout.of(rows, cols, upsample, self.padding, self.outer)

    def session(self, layout: PyramidLayout) -> Any:
        """The session that turns an image of this layout's size into its pyramid tensor.

        Input "image": uint8 [rows, cols, 3]; output "pyramid": float32 [1, 3, rows', cols'].
        """
        key = (*layout.image, layout.upsample)
        if key in self._sessions:
            self._sessions.move_to_end(key)
            return self._sessions[key]
        model = pyramid_model(layout, self.means).SerializeToString()
        session = onnx_session(model, data_movement=True)
        self._sessions[key] = session
        while len(self._sessions) > SESSIONS_KEPT:
            self._sessions.popitem(last=False)
        return session

    def __call__(self, rgb: np.ndarray, upsample: int = 0) -> tuple[np.ndarray, PyramidLayout]:
        """The pyramid tensor in host memory (tests and inspection; the detector chains it)."""
        layout = self.layout(rgb.shape[0], rgb.shape[1], upsample)
        if layout.empty:
            return np.zeros((1, 3, *layout.shape), np.float32), layout
        image = np.ascontiguousarray(rgb, np.uint8)
        return self.session(layout).run(None, {"image": image})[0], layout


# ------------------------------------------------------------------------------- the graph


def pyramid_model(layout: PyramidLayout, means: tuple[float, float, float]) -> Any:
    """The ONNX graph: 8-bit image → upsampled → levels → tiled tensor."""
    g = GraphBuilder()
    # Everything is [1, 3, rows, cols], the network's layout.
    planar = g.op(
        "Transpose",
        [g.op("Unsqueeze", ["image", g.const("axes", np.array([0]))])],
        perm=[0, 3, 1, 2],
    )
    pixels = g.op("Cast", [planar], to=TensorProto.FLOAT)
    size = layout.image
    for _ in range(layout.upsample):
        larger = upsampled_size(*size)
        pixels = _resize(g, pixels, size, larger, eight_bit=True)
        size = larger
    centred = g.op("Sub", [pixels, g.const("means", np.array(means, np.float32)[:, None, None])])
    levels = [g.op("Div", [centred, g.const("scale", np.array(256.0, np.float32))])]
    for previous, rect in itertools.pairwise(layout.rects):
        levels.append(_resize(g, levels[-1], _size(previous), _size(rect), eight_bit=False))
    _tile(g, levels, layout, "pyramid")
    source = helper.make_tensor_value_info("image", TensorProto.UINT8, [*layout.image, 3])
    result = helper.make_tensor_value_info("pyramid", TensorProto.FLOAT, [1, 3, *layout.shape])
    return finish_model(g, "dlib_tiled_image_pyramid", source, result)


def _tile(g: GraphBuilder, levels: list[str], layout: PyramidLayout, output: str) -> None:
    """The levels placed in their tiles on a zero background, as bands of rows: within a band
    every tile either spans all its rows or none, so a band is a concatenation of tile slices
    and zero gaps, and the tensor a concatenation of bands."""
    rows, cols = layout.shape
    rects = layout.rects
    edges = sorted({0, rows} | {r[1] for r in rects} | {r[3] + 1 for r in rects})
    by_left = sorted(range(len(rects)), key=lambda k: rects[k][0])
    bands = []
    for start, stop in itertools.pairwise(edges):
        pieces, x = [], 0
        for k in by_left:
            left, top, right, bottom = rects[k]
            if not (top <= start and stop - 1 <= bottom):
                continue
            if left > x:
                pieces.append(_zeros(g, stop - start, left - x))
            piece = levels[k]
            if (start, stop) != (top, bottom + 1):
                bounds = [
                    g.const("rows", np.array([v], np.int64)) for v in (start - top, stop - top)
                ]
                piece = g.op("Slice", [piece, *bounds, g.const("axis", np.array([2], np.int64))])
            pieces.append(piece)
            x = right + 1
        if x < cols:
            pieces.append(_zeros(g, stop - start, cols - x))
        bands.append(pieces[0] if len(pieces) == 1 else g.op("Concat", pieces, axis=3))
    g.nodes.append(helper.make_node("Concat", bands, [output], axis=2))


def _zeros(g: GraphBuilder, rows: int, cols: int) -> str:
    shape = g.const("shape", np.array([1, 3, rows, cols], np.int64))
    zero = helper.make_tensor("zero", TensorProto.FLOAT, [1], [0.0])
    return g.op("ConstantOfShape", [shape], value=zero)


def _resize(
    g: GraphBuilder,
    source: str,
    size: tuple[int, int],
    out_size: tuple[int, int],
    *,
    eight_bit: bool,
) -> str:
    """dlib's bilinear resize_image of a 1×C×H×W image, as graph nodes.

    `eight_bit`: the source holds 8-bit pixel values and the result is truncated to 8 bits
    (pyramid_up of an rgb image); else float in, float out (the pyramid's levels).
    """
    cols = _columns(size[1], out_size[1])
    top, bottom, frac = _rows(size[0], out_size[0])
    upper = g.op("Gather", [source, g.const("top", top)], axis=2)
    lower = g.op("Gather", [source, g.const("bottom", bottom)], axis=2)
    parts = []
    if len(cols.left):
        # value = (above·keep)·UL + (above·right)·UR + (below·keep)·LL + (below·right)·LR
        above = g.const("above", (1 - frac).astype(np.float32)[:, None])
        below = g.const("below", frac.astype(np.float32)[:, None])
        keep = g.const("keep", (np.float32(1) - cols.frac).astype(np.float32)[None, :])
        right = g.const("right", cols.frac[None, :])
        on_left, on_right = g.const("left", cols.left), g.const("right", cols.right)
        value = ""
        for row_weight, col_weight, band, columns in (
            (above, keep, upper, on_left),
            (above, right, upper, on_right),
            (below, keep, lower, on_left),
            (below, right, lower, on_right),
        ):
            weight = g.op("Mul", [row_weight, col_weight])
            term = g.op("Mul", [weight, g.op("Gather", [band, columns], axis=3)])
            value = g.op("Add", [value, term]) if value else term
        if eight_bit:
            value = g.op(
                "Cast", [g.op("Cast", [value], to=TensorProto.INT32)], to=TensorProto.FLOAT
            )
        parts.append(value)
    if len(cols.tail_left):
        tail_left, tail_right = g.const("left", cols.tail_left), g.const("right", cols.tail_right)
        if eight_bit:  # dlib's scalar loop on 8-bit pixels: all in double
            keep = g.const("keep", 1 - cols.tail_frac64)
            right = g.const("right", cols.tail_frac64)
        else:  # on float pixels: columns blended in float, rows in double
            keep = g.const("keep", (np.float32(1) - cols.tail_frac).astype(np.float32))
            right = g.const("right", cols.tail_frac)
        blended_rows = []
        for band in (upper, lower):
            pixels = [g.op("Gather", [band, at], axis=3) for at in (tail_left, tail_right)]
            if eight_bit:
                pixels = [g.op("Cast", [p], to=TensorProto.DOUBLE) for p in pixels]
            value = g.op("Add", [g.op("Mul", [keep, pixels[0]]), g.op("Mul", [right, pixels[1]])])
            blended_rows.append(
                value if eight_bit else g.op("Cast", [value], to=TensorProto.DOUBLE)
            )
        value = g.op(
            "Add",
            [
                g.op("Mul", [g.const("above", (1 - frac)[:, None]), blended_rows[0]]),
                g.op("Mul", [g.const("below", frac[:, None]), blended_rows[1]]),
            ],
        )
        if eight_bit:
            value = g.op("Cast", [value], to=TensorProto.INT64)
        parts.append(g.op("Cast", [value], to=TensorProto.FLOAT))
    return parts[0] if len(parts) == 1 else g.op("Concat", parts, axis=3)


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
    xs: np.ndarray = np.empty((blocks, 4), np.float32)
    current = block.astype(np.float32)
    for k in range(blocks):  # sequential float32 accumulation, as in the SIMD loop
        current = (current + step).astype(np.float32)
        xs[k] = current
    lefts: np.ndarray = xs.astype(np.int64)
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
