"""A video's faces, frame by frame, linked into tracks: the engine's work on one video.

Frames are decoded here while worker processes detect and describe faces in the frames sent
before them; results come back in order and go through the tracker in this process.

Searching a whole 1080p frame for the smallest faces (30 px) is the dominant cost, so it is done on
a "full scan" frame at least every `full_scan_every` seconds. The sampled frames in between
are searched whole for faces twice that size, and for small faces only near the small faces
of the last full scan (detect_focused). A small face that appears between full scans is
found at the next one; `full_scan_every=0` scans every sampled frame in full.

The schedule follows the video's timeline, not the run: each full scan is the first sampled
frame `full_scan_every` seconds after the one before. A scan resumed after some frame is given
the full scan that frame followed (its `FrameFaces.anchor`; its faces are stored), so it
searches the same frames in the same places as an uninterrupted scan, and finds the same faces.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from facesift.execution import AnalysisFailure, Executor
from facesift.match.tracking import Anchor, FrameFaces, Sighting, Tracker
from facesift.media.video import DecodeStatus, VideoFrame, read_frames
from facesift.vision.face import Box, Face

# Seconds between full scans of a sampled frame (see the module's docstring).
DEFAULT_FULL_SCAN_EVERY = 2.0

# Small faces of a full scan are looked for again within this many face widths, plus this
# many per second since the full scan (a face crossing the frame at walking pace).
FOCUS_MARGIN = 1.0
FOCUS_SPEED = 2.0

# Faces up to this many times the smallest wanted width are "small": a coarse scan over the
# whole frame may miss them.
SMALL_FACE_FACTOR = 2.0


@dataclass(eq=False)
class _Pending:
    index: int
    timestamp: float
    pixels: np.ndarray | None = None  # kept until submitted
    anchor: _Pending | None = None  # the full scan whose small faces set the focus (None: full)
    future: Future[list[Face] | str] | None = field(default=None)


def track_video(
    pool: Executor,
    path: Path,
    tracker: Tracker,
    *,
    fps: float | None,
    status: DecodeStatus,
    skip_until: int = -1,
    anchor: Anchor | None = None,
    full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
    min_face_px: float = 30.0,
) -> Iterator[FrameFaces]:
    """Sampled frames of `path` with their faces and track ids, in order.

    Frames up to `skip_until` are skipped; a resumed scan gives the `anchor` of the frame it
    resumes after, to keep the full-scan schedule (None: the first frame is scanned in full).
    Decoding problems end the iteration with `status.error` set: the file is damaged there. A
    frame whose analysis fails ends it too, with `status.error` an AnalysisFailure: the frame
    was read, the engine failed (out of memory, a worker that died), so the frames from there
    on are worth analysing again; what came before is yielded.
    """
    frames = read_frames(path, fps=fps, skip_until=skip_until, status=status)
    for pending, faces in _analysed(pool, frames, anchor, full_scan_every, min_face_px):
        if isinstance(faces, str):  # the frame was decoded: its analysis failed
            status.error = AnalysisFailure(
                f"frame {pending.index} ({pending.timestamp:.2f} s): {faces}"
            )
            return
        sightings = [Sighting(pending.index, pending.timestamp, face) for face in faces]
        ids = tracker.update(pending.index, pending.timestamp, sightings)
        full_scan = pending.anchor or pending
        yield FrameFaces(
            pending.index, pending.timestamp, sightings, ids, (full_scan.index, full_scan.timestamp)
        )


def _analysed(
    pool: Executor,
    frames: Iterator[VideoFrame],
    start: Anchor | None,
    full_scan_every: float,
    min_face_px: float,
) -> Iterator[tuple[_Pending, list[Face] | str]]:
    """Frames sent to the workers as soon as what they depend on is known; results in order."""
    window: deque[_Pending] = deque()
    anchor: _Pending | None = None
    if start is not None:  # a full scan of an earlier run: its faces are known
        known: Future[list[Face] | str] = Future()
        known.set_result(start.faces)
        anchor = _Pending(start.index, start.timestamp, future=known)
    look_ahead = 4 * pool.workers + 4  # frames decoded ahead: full scans start early

    def submit(item: _Pending) -> None:
        focus = None
        if item.anchor is not None:
            found = item.anchor.future.result() if item.anchor.future else "not analysed"
            if not isinstance(found, str):  # else the full scan failed: scan this one in full
                focus = _focus(found, item.timestamp - item.anchor.timestamp, min_face_px)
        assert item.pixels is not None
        item.future = pool.submit_pixels(item.pixels, focus)
        item.pixels = None

    def ready() -> None:
        for item in window:
            depends_on = item.anchor.future if item.anchor is not None else None
            if item.future is None and depends_on is not None and depends_on.done():
                submit(item)

    def result(item: _Pending) -> tuple[_Pending, list[Face] | str]:
        if item.future is None:
            submit(item)  # waits for its full scan
        assert item.future is not None
        return item, item.future.result()

    for frame in frames:
        full = anchor is None or frame.timestamp - anchor.timestamp >= full_scan_every - 1e-6
        item = _Pending(frame.index, frame.timestamp, frame.pixels, None if full else anchor)
        if full:
            anchor = item
            submit(item)
        window.append(item)
        ready()
        while len(window) > look_ahead:
            yield result(window.popleft())
            ready()
    while window:
        yield result(window.popleft())
        ready()


def _focus(faces: list[Face], elapsed: float, min_face_px: float) -> list[Box]:
    """Regions where the small faces of a full scan can be `elapsed` seconds later."""
    regions = []
    for face in faces:
        width = face.width
        if width > SMALL_FACE_FACTOR * min_face_px:
            continue
        grow = width * (FOCUS_MARGIN + FOCUS_SPEED * elapsed)
        x1, y1, x2, y2 = face.bbox
        regions.append((x1 - grow, y1 - grow, x2 + grow, y2 + grow))
    return regions
