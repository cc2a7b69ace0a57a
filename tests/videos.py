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


Placement = tuple[float, float, float]  # x, y of the top-left corner, width


def moving_photos_video(
    path: Path,
    shows: Sequence[tuple[Path, float, float, Placement, Placement]],
    *,
    duration: float,
    fps: int = 10,
    size: tuple[int, int] = (640, 480),
) -> Path:
    """facesift.samples.write_moving_clip with photos given by path."""
    from PIL import Image

    from facesift.samples import write_moving_clip

    opened = [(Image.open(p).convert("RGB"), *timing) for p, *timing in shows]
    return write_moving_clip(path, opened, duration=duration, fps=fps, size=size)
