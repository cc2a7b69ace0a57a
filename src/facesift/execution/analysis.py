"""The analysis tasks every executor runs: one file or one video frame through a FaceEngine.

Each task returns its result or the reason it failed and never raises for bad input, so that a
scan goes on past one bad file whichever executor (local processes, a cluster) runs it. A
reason is a plain `str` when the input is at fault (the file cannot be read or decoded: it
fails the same way again), an `AnalysisFailure` when analysing it failed (an exception in the
engine, out of memory, a worker process that died): the file may be fine, and a rerun retries.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import MediaError
from facesift.media.image import DecodedImage, load_image
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Box, Face


class AnalysisFailure(str):
    """The reason a photo or video frame was not analysed when the input is not at fault: the
    engine raised, memory ran out, a worker process died. Such a failure says nothing about
    the file; a rerun retries it (a video resumes from its last commit)."""

    __slots__ = ()


def crashed(exc: BaseException, what: str = "image", decoding: bool = False) -> AnalysisFailure:
    """The reason for an unexpected exception while decoding or analysing a `what`."""
    if isinstance(exc, MemoryError):
        cause = "out of memory"
    else:
        cause = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    if decoding and not isinstance(exc, MemoryError):
        return AnalysisFailure(
            f"decoding failed unexpectedly ({cause}): a decoder error, or damage it did not "
            "recognise"
        )
    return AnalysisFailure(f"analysis failed ({cause}); the {what} itself may be fine")


@dataclass(frozen=True)
class AnalyzedImage:
    """What a scan stores about one decoded photo: its description and its faces."""

    format: str | None
    mode: str
    width: int
    height: int
    exif: dict[str, Any]
    faces: list[Face]
    frames: int = 1  # a multi-frame file (GIF, TIFF): only the first frame is analysed


def analyze_file(
    engine: FaceEngine, source: Path | bytes, thorough: bool = False, templates: bool = False
) -> AnalyzedImage | str:
    """The photo's faces, or the reason it could not be analysed (never raises for a file):
    a `str` when the file cannot be read or decoded, an AnalysisFailure when analysing its
    pixels failed. `source`: its path, or its bytes (read where the file is, analysed on
    another machine). `templates` adds low-resolution templates (for gallery photos)."""
    try:
        decoded = load_image(source)
    except MediaError as exc:
        return exc.reason
    except Exception as exc:  # MemoryError, or a decoder's own bug: no verdict on the file
        return crashed(exc, "image", decoding=True)
    try:
        faces = engine.analyze_pixels(
            decoded.pixels, thorough=thorough, low_res_templates=templates
        )
    except Exception as exc:  # a scan must go on past one file, whatever broke
        return crashed(exc, "image")
    return analyzed_image(decoded, faces)


def analyzed_image(decoded: DecodedImage, faces: list[Face]) -> AnalyzedImage:
    """Keep what is stored; chips are dropped to keep transfers between processes small."""
    return AnalyzedImage(
        format=decoded.format,
        mode=decoded.mode,
        width=decoded.width,
        height=decoded.height,
        exif=decoded.exif,
        faces=[replace(f, chip=None) for f in faces],
        frames=decoded.frames,
    )


def analyze_pixels(
    engine: FaceEngine, pixels: np.ndarray, focus: list[Box] | None = None
) -> list[Face] | str:
    """The faces of one video frame (with their chips: a track keeps its best), or why they
    could not be found: an AnalysisFailure (the frame was decoded; the engine failed)."""
    try:
        return engine.analyze_pixels(pixels, focus=focus)
    except Exception as exc:  # reported with the video, which resumes from its last commit
        return crashed(exc, "frame")
