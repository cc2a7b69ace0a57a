"""Analysing many files at once: one FaceEngine per worker process, results in order.

dlib runs one image on one core, so a scan keeps every core busy by sending files to worker
processes; the calling process hashes files and writes the database meanwhile.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, TypeVar

from facesift.errors import MediaError
from facesift.media.image import DecodedImage, load_image
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Face

T = TypeVar("T")


@dataclass(frozen=True)
class AnalyzedImage:
    """What a scan stores about one decoded photo: its description and its faces."""

    format: str | None
    mode: str
    width: int
    height: int
    exif: dict[str, Any]
    faces: list[Face]


def analyze_file(engine: FaceEngine, path: Path, thorough: bool = False) -> AnalyzedImage | str:
    """The photo's faces, or the reason it could not be analysed (never raises for a file)."""
    try:
        decoded = load_image(path)
        faces = engine.analyze_pixels(decoded.pixels, thorough=thorough)
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
    )


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


_worker_engine: FaceEngine | None = None


def _init_worker(settings: dict[str, Any], threads: int) -> None:
    global _worker_engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops cleanly
    os.environ["FACESIFT_THREADS"] = str(threads)  # share the cores, don't oversubscribe them
    _worker_engine = FaceEngine(**settings)


def _analyze_in_worker(path: Path, thorough: bool) -> AnalyzedImage | str:
    assert _worker_engine is not None
    return analyze_file(_worker_engine, path, thorough)


class AnalysisPool:
    """Analyses (item, path) pairs, in parallel when `workers` > 1, yielding in input order."""

    def __init__(self, engine: FaceEngine, workers: int, thorough: bool = False) -> None:
        self.engine = engine
        self.thorough = thorough
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> AnalysisPool:
        if self.workers > 1:
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=multiprocessing.get_context("forkserver"),
                initializer=_init_worker,
                initargs=(self.engine.settings(), max(1, (os.cpu_count() or 1) // self.workers)),
            )
        return self

    def __exit__(self, *_: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def imap(self, items: Iterator[tuple[T, Path]]) -> Iterator[tuple[T, AnalyzedImage | str]]:
        if self._executor is None:
            for item, path in items:
                yield item, analyze_file(self.engine, path, self.thorough)
            return
        window: deque[tuple[T, Future[AnalyzedImage | str]]] = deque()
        for item, path in items:
            window.append((item, self._executor.submit(_analyze_in_worker, path, self.thorough)))
            if len(window) >= 2 * self.workers:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()
