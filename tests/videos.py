"""Writing small test videos with PyAV: known frames at known times, optional rotation."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def write_video(
    path: Path,
    frames: Iterable[np.ndarray],
    *,
    fps: int = 25,
    times_ms: Sequence[int] | None = None,
    rotation: int | None = None,
) -> Path:
    """Encode RGB frames as H.264; `times_ms` gives each frame's time (variable frame rate)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.time_base = Fraction(1, 1000)
        stream.codec_context.time_base = Fraction(1, 1000)
        stream.pix_fmt = "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        for k, pixels in enumerate(frames):
            if k == 0:
                stream.height, stream.width = pixels.shape[:2]
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(pixels), format="rgb24")
            frame.pts = times_ms[k] if times_ms is not None else round(k * 1000 / fps)
            frame.time_base = Fraction(1, 1000)
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def numbered_frames(count: int, width: int = 64, height: int = 48) -> list[np.ndarray]:
    """Frames whose number is written in binary along the bottom edge (eight 8×8 blocks,
    white = 1, lowest bit first; see `frame_number`) and whose top-left block is white."""
    frames = []
    for k in range(count):
        pixels = np.full((height, width, 3), 64, np.uint8)
        pixels[: height // 2 - 8, : width // 4] = 255
        for bit in range(8):
            if k >> bit & 1:
                pixels[-8:, bit * 8 : bit * 8 + 8] = 255
        frames.append(pixels)
    return frames


def frame_number(pixels: np.ndarray) -> int:
    """The number `numbered_frames` wrote into a (decoded, upright) frame."""
    return sum(
        1 << bit for bit in range(8) if pixels[-6:-2, bit * 8 + 2 : bit * 8 + 6].mean() > 160
    )


def moving_photos_video(
    path: Path,
    shows: Sequence[
        tuple[Path, float, float, tuple[float, float, float], tuple[float, float, float]]
    ],
    *,
    duration: float,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
) -> Path:
    """A video of photos moving over a grey background.

    Each show is (photo, start s, end s, (x, y, width) at the start, (x, y, width) at the end):
    the photo is visible for start ≤ t < end, its top-left corner and width interpolated.
    """
    from PIL import Image

    photos = {p: Image.open(p).convert("RGB") for p, *_ in shows}
    frames = []
    for k in range(round(duration * fps)):
        t = k / fps
        canvas = Image.new("RGB", size, (110, 110, 110))
        for photo, start, end, (x0, y0, w0), (x1, y1, w1) in shows:
            if start <= t < end:
                a = (t - start) / (end - start)
                width = round(w0 + a * (w1 - w0))
                image = photos[photo].resize((width, width), Image.BILINEAR)
                canvas.paste(image, (round(x0 + a * (x1 - x0)), round(y0 + a * (y1 - y0))))
        frames.append(np.asarray(canvas))
    return write_video(path, frames, fps=fps)
