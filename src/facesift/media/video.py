"""Decode video files into sampled, upright RGB frames with exact timestamps.

Timestamps come from each frame's presentation time stamp (PTS), counted from the stream's
start, so they stay exact for variable frame rate files; the frame index counts decoded frames
from the start. Rotation metadata (phone clips) is applied. A corrupt or truncated stream
yields every frame that could be decoded and then says what went wrong: evidence that can be
read is never thrown away because of the part that cannot.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np

from facesift.errors import MediaError

# Frames per second a scan looks at unless told otherwise: enough to follow a walking person
# and to catch a face shown for half a second, few enough to scan faster than real time.
DEFAULT_SAMPLE_FPS = 2.0

# A stream that ends this long before its declared duration is reported as truncated.
TRUNCATION_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class VideoInfo:
    """What a video file says about itself; `width`/`height` are after rotation."""

    format: str
    codec: str
    width: int
    height: int
    fps: float | None
    duration: float | None
    frames: int | None
    rotation: int
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": self.format,
            "codec": self.codec,
            "width": self.width,
            "height": self.height,
            "fps": self.fps,
            "duration": self.duration,
            "frames": self.frames,
            "rotation": self.rotation,
            "metadata": self.metadata,
        }


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame: `index` counts frames from the start, `timestamp` is in seconds."""

    index: int
    timestamp: float
    pixels: np.ndarray


@dataclass
class DecodeStatus:
    """Filled in while frames are read: how far decoding got and what stopped it early."""

    frames_decoded: int = 0
    last_timestamp: float | None = None
    error: str | None = None


def _open(path: Path) -> Any:
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError, UnicodeDecodeError) as exc:
        raise MediaError(path, f"not a readable video: {_reason(exc)}") from exc
    if not container.streams.video:
        container.close()
        raise MediaError(path, "the file has no video stream")
    return container


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc)
    return text.split(": '", 1)[0] if text else type(exc).__name__


def _stream_rotation(stream: Any) -> int:
    """Counter-clockwise display rotation from the stream's older `rotate` tag, if any."""
    tag = stream.metadata.get("rotate")  # the older tag: degrees clockwise
    if tag and tag.lstrip("-").isdigit():
        return -int(tag) % 360
    return 0


def probe_video(path: str | Path) -> VideoInfo:
    """Read a video's header (and its first frame, for the rotation); raise MediaError if bad."""
    path = Path(path)
    with _open(path) as container:
        stream = container.streams.video[0]
        rotation = _stream_rotation(stream)
        try:
            first = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise MediaError(path, f"the video stream cannot be decoded: {_reason(exc)}") from exc
        if first is None:
            raise MediaError(path, "the video stream holds no decodable frame")
        rotation = _frame_rotation(first, rotation)
        width, height = first.width, first.height
        if rotation in (90, 270):
            width, height = height, width
        duration = _declared_duration(container, stream)
        rate = stream.average_rate or stream.guessed_rate
        return VideoInfo(
            format=container.format.name,
            codec=stream.codec_context.name,
            width=width,
            height=height,
            fps=float(rate) if rate else None,
            duration=duration,
            frames=stream.frames or None,
            rotation=rotation,
            metadata={**container.metadata, **stream.metadata},
        )


def _declared_duration(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    return None


def _frame_rotation(frame: Any, default: int) -> int:
    value = frame.rotation  # FFmpeg copies the stream's display matrix onto every frame
    return round(value / 90.0) * 90 % 360 if value else default


def upright(pixels: np.ndarray, rotation: int) -> np.ndarray:
    """Pixels as a viewer shows them: rotated counter-clockwise by `rotation` degrees."""
    turns = (rotation // 90) % 4
    return np.ascontiguousarray(np.rot90(pixels, turns)) if turns else pixels


def read_frames(
    path: str | Path,
    *,
    fps: float | None = DEFAULT_SAMPLE_FPS,
    skip_until: int = -1,
    status: DecodeStatus | None = None,
) -> Iterator[VideoFrame]:
    """Sampled frames of a video, upright RGB, in order.

    `fps` None takes every frame; otherwise the first frame at or after each multiple of
    1/fps seconds (so variable frame rate and dropped frames are handled by time, not count).
    Frames with index ≤ `skip_until` are decoded (to keep counting) but not converted: how a
    scan resumes. Decoding errors end the iteration; `status.error` says why.
    """
    path = Path(path)
    status = status if status is not None else DecodeStatus()
    if fps is not None and not (fps > 0 and math.isfinite(fps)):
        raise ValueError(f"fps must be a positive number, not {fps!r}")
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"  # frame threads: decoding keeps pace with detection
        rotation = _stream_rotation(stream)
        start = stream.start_time or 0
        time_base = float(stream.time_base) if stream.time_base else 0.0
        next_sample = 0.0
        index = -1
        try:
            for frame in container.decode(stream):
                index += 1
                if frame.pts is not None and time_base:
                    timestamp = (frame.pts - start) * time_base
                elif frame.time is not None:
                    timestamp = float(frame.time)
                else:  # no timing at all: fall back on the nominal rate
                    timestamp = index / float(stream.average_rate or 25)
                status.frames_decoded = index + 1
                status.last_timestamp = timestamp
                if fps is not None:
                    if timestamp + 1e-6 < next_sample:
                        continue
                    next_sample = (math.floor(timestamp * fps + 1e-6) + 1) / fps
                if index <= skip_until:
                    continue
                pixels = frame.to_ndarray(format="rgb24")
                yield VideoFrame(
                    index, timestamp, upright(pixels, _frame_rotation(frame, rotation))
                )
        except av.error.FFmpegError as exc:
            status.error = f"decoding stopped after {index} frames: {_reason(exc)}"
            return
        if index < 0:
            status.error = "the video stream holds no decodable frame"
            return
        declared = _declared_duration(container, stream)
        last = status.last_timestamp or 0.0
        if declared is not None and last + TRUNCATION_TOLERANCE_S < declared:
            status.error = (
                f"the stream ends at {last:.2f} s of the {declared:.2f} s it declares "
                "(truncated or damaged file)"
            )


# Listings print times to the millisecond: a time within half a millisecond after a frame's
# timestamp is taken as naming that frame, so a printed time gives back the frame it was
# printed for (frames are always more than 1 ms apart).
PRINTED_TIME_TOLERANCE = 0.0005


def read_frame_at(path: str | Path, seconds: float) -> VideoFrame:
    """The frame on screen at `seconds`: the last one whose timestamp is at or before it
    (within PRINTED_TIME_TOLERANCE, so that times copied from a listing round-trip).

    Decodes from the start (converting only the chosen frame) so that the index is exact and
    matches the one a scan stored.
    """
    path = Path(path)
    if not seconds >= 0:
        raise MediaError(path, f"no frame at {seconds} s: time must be ≥ 0")
    chosen: tuple[int, float, Any] | None = None
    with _open(path) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        rotation = _stream_rotation(stream)
        start = stream.start_time or 0
        time_base = float(stream.time_base or 0)
        last = None
        try:
            for index, frame in enumerate(container.decode(stream)):
                last = (frame.pts - start) * time_base if frame.pts is not None else None
                if last is None or last > seconds + PRINTED_TIME_TOLERANCE:
                    break
                chosen = (index, last, frame)
        except av.error.FFmpegError as exc:
            if chosen is None:
                raise MediaError(path, f"the video cannot be decoded: {_reason(exc)}") from exc
    if chosen is None:
        raise MediaError(path, "the video stream holds no decodable frame")
    index, timestamp, frame = chosen
    if last is not None and last <= seconds and seconds > timestamp + 1.0:
        raise MediaError(path, f"no frame at {seconds} s: the video ends at {timestamp:.2f} s")
    pixels = upright(frame.to_ndarray(format="rgb24"), _frame_rotation(frame, rotation))
    return VideoFrame(index, timestamp, pixels)


def read_frame_index(path: str | Path, index: int) -> VideoFrame:
    """Frame number `index` (0 is the first), counted as a scan counts them."""
    path = Path(path)
    status = DecodeStatus()
    for frame in read_frames(path, fps=None, skip_until=index - 1, status=status):
        return frame
    raise MediaError(
        path, status.error or f"no frame {index}: the video has {status.frames_decoded} frames"
    )
