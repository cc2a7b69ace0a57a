"""The analysis tasks every executor runs: one file or one video frame through a FaceEngine.

Each task returns its result or the reason it failed and never raises for bad input, so that a
scan goes on past one bad file whichever executor (local processes, a cluster) runs it.
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
    engine: FaceEngine, path: Path, thorough: bool = False, templates: bool = False
) -> AnalyzedImage | str:
    """The photo's faces, or the reason it could not be analysed (never raises for a file).
    `templates` adds low-resolution templates (for gallery photos)."""
    try:
        decoded = load_image(path)
        faces = engine.analyze_pixels(
            decoded.pixels, thorough=thorough, low_res_templates=templates
        )
    except MediaError as exc:
        return exc.reason
    except MemoryError:
        return "not enough memory to analyse this image"
    except Exception as exc:  # a scan must go on past one bad file, whatever broke
        return f"analysis failed: {type(exc).__name__}: {exc}"
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
    could not be found."""
    try:
        return engine.analyze_pixels(pixels, focus=focus)
    except MemoryError:
        return "not enough memory to analyse this frame"
    except Exception as exc:  # reported with the video, which keeps what was found before
        return f"analysis failed: {type(exc).__name__}: {exc}"
