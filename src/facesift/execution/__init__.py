"""Where analysis runs: the executor interface; local worker processes (the default) and
Ray actors (facesift.execution.cluster) implement it.

A use case hands an executor photos (by path) or video frames (by pixels) and gets each one's
faces, or the reason it failed, back in order (a `str` when the input is at fault, an
`AnalysisFailure` when analysing it failed: see facesift.execution.analysis); it never knows
whether they were analysed in this process, in local processes or on other machines. An
executor factory is given to the workspace (its default) or to one scan.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from types import TracebackType
from typing import Protocol, TypeVar

import numpy as np

from facesift.execution.analysis import AnalysisFailure, AnalyzedImage
from facesift.execution.local import LocalProcesses, default_workers
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Box, Face

T = TypeVar("T")


class Executor(Protocol):
    """Analyses photos and video frames with copies of one FaceEngine, results in order."""

    workers: int  # analyses in flight at once: a caller decodes this far ahead

    def __enter__(self) -> Executor: ...

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None: ...

    def imap(self, items: Iterator[tuple[T, Path]]) -> Iterator[tuple[T, AnalyzedImage | str]]:
        """Photos: (item, path) → (item, analysis or the reason it failed), in input order."""
        ...

    def submit_pixels(
        self, pixels: np.ndarray, focus: list[Box] | None = None
    ) -> Future[list[Face] | str]:
        """A video frame's faces (with chips), or the reason they could not be found."""
        ...


class ExecutorFactory(Protocol):
    """How a workspace makes an executor (LocalProcesses is one): for `workers` copies of
    `engine`; `thorough` and `templates` as FaceEngine.analyze_pixels takes them."""

    def __call__(
        self, engine: FaceEngine, workers: int, thorough: bool = False, templates: bool = False
    ) -> Executor: ...

    def default_workers(self, engine: FaceEngine) -> int:
        """How many workers to use for `engine` when the user does not say."""
        ...


__all__ = [
    "AnalysisFailure",
    "AnalyzedImage",
    "Executor",
    "ExecutorFactory",
    "LocalProcesses",
    "default_workers",
]
