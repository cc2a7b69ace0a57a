"""The local executor: analysing many files or video frames at once, one FaceEngine per worker
process, results in order.

dlib runs one image on one core, so a scan keeps every core busy by sending files to worker
processes; the calling process hashes files and writes the database meanwhile.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from facesift.execution.analysis import AnalyzedImage, analyze_file, analyze_pixels
from facesift.vision.engine import FaceEngine, gpu_engine_mib
from facesift.vision.face import Box, Face
from facesift.vision.models.runtime import gpu_free_memory_mib

T = TypeVar("T")
R = TypeVar("R")


# Scan processes sharing one GPU, at most: decoding and landmarks run on the CPU meanwhile.
# On an NVIDIA H200 a scan's analysis of photos ran at 11.1, 12.0 and 14.1 photos/s with 1, 2
# and 4 (measured on 2026-11-28 with `python benchmarks/gpu_runtime.py --sections 5`; not
# re-measured by `make bench`, no result file of that run was kept); each process holds
# gpu_engine_mib of GPU memory.
GPU_MAX_WORKERS = 4


def default_workers(engine: FaceEngine) -> int:
    """Scan processes for `engine`: one per core (at most 8); where its detector runs on a GPU,
    as many as the GPU's free memory holds, at most GPU_MAX_WORKERS."""
    cores = max(1, min(os.cpu_count() or 1, 8))
    if not engine.detects_on_gpu:
        return cores
    free = gpu_free_memory_mib()
    if free is None:
        return 1
    return max(
        1, min(cores, GPU_MAX_WORKERS, int(free // gpu_engine_mib(engine.max_detect_pixels)))
    )


_worker_engine: FaceEngine | None = None


def _init_worker(settings: dict[str, Any], threads: int) -> None:
    global _worker_engine
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops cleanly
    os.environ["FACESIFT_THREADS"] = str(threads)  # share the cores, don't oversubscribe them
    _worker_engine = FaceEngine(**settings)


def _analyze_in_worker(path: Path, thorough: bool, templates: bool) -> AnalyzedImage | str:
    assert _worker_engine is not None
    return analyze_file(_worker_engine, path, thorough, templates)


def _analyze_pixels_in_worker(pixels: np.ndarray, focus: list[Box] | None) -> list[Face] | str:
    assert _worker_engine is not None
    return analyze_pixels(_worker_engine, pixels, focus)


class LocalProcesses:
    """Analyses photos (by path) or video frames (by pixels), in parallel when `workers` > 1."""

    def __init__(
        self, engine: FaceEngine, workers: int, thorough: bool = False, templates: bool = False
    ) -> None:
        self.engine = engine
        self.thorough = thorough
        self.templates = templates
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    def __enter__(self) -> LocalProcesses:
        if self.workers > 1:
            context = multiprocessing.get_context("forkserver")
            # Workers fork from a server that has imported the analysis code once.
            context.set_forkserver_preload([__name__])
            self._executor = ProcessPoolExecutor(
                self.workers,
                mp_context=context,
                initializer=_init_worker,
                initargs=(self.engine.settings(), max(1, (os.cpu_count() or 1) // self.workers)),
            )
            self._executor.submit(int)  # start the workers now, while the caller reads files
        return self

    def __exit__(self, *_: object) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def imap(self, items: Iterator[tuple[T, Path]]) -> Iterator[tuple[T, AnalyzedImage | str]]:
        """Photos: (item, path) → (item, analysis or the reason it failed), in input order."""
        if self._executor is None:
            for item, path in items:
                yield item, analyze_file(self.engine, path, self.thorough, self.templates)
            return
        yield from self._ordered(
            _analyze_in_worker, ((i, (p, self.thorough, self.templates)) for i, p in items)
        )

    def submit_pixels(
        self, pixels: np.ndarray, focus: list[Box] | None = None
    ) -> Future[list[Face] | str]:
        """A video frame's faces, as a future (computed at once without worker processes)."""
        if self._executor is None:
            done: Future[list[Face] | str] = Future()
            done.set_result(analyze_pixels(self.engine, pixels, focus))
            return done
        return self._executor.submit(_analyze_pixels_in_worker, pixels, focus)

    def _ordered(
        self, task: Callable[..., R], items: Iterator[tuple[T, tuple[Any, ...]]]
    ) -> Iterator[tuple[T, R]]:
        """Run `task` on the workers with a bounded number in flight; results in input order."""
        assert self._executor is not None
        window: deque[tuple[T, Future[R]]] = deque()
        for item, args in items:
            window.append((item, self._executor.submit(task, *args)))
            if len(window) >= 2 * self.workers:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()
