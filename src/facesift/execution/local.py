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
from concurrent.futures import BrokenExecutor, Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from facesift.execution.analysis import (
    AnalysisFailure,
    AnalyzedImage,
    analyze_file,
    analyze_pixels,
)
from facesift.vision.engine import FaceEngine, gpu_engine_mib
from facesift.vision.face import Box, Face
from facesift.vision.models.runtime import gpu_free_memory_mib

T = TypeVar("T")
R = TypeVar("R")

# What an item in flight gets when its worker process died (killed for memory, say): the
# workers are started afresh for the items after it, and a rerun retries it.
WORKER_DIED = AnalysisFailure(
    "analysis failed (a worker process died: killed, or out of memory); the file itself may be fine"
)


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
    """Analyses photos (by path) or video frames (by pixels), in parallel when `workers` > 1.

    A worker process that dies fails the items it had in flight with WORKER_DIED (an
    AnalysisFailure: retried by a rerun), and the next item starts the workers afresh.
    """

    def __init__(
        self, engine: FaceEngine, workers: int, thorough: bool = False, templates: bool = False
    ) -> None:
        self.engine = engine
        self.thorough = thorough
        self.templates = templates
        self.workers = max(1, workers)
        self._executor: ProcessPoolExecutor | None = None

    @staticmethod
    def default_workers(engine: FaceEngine) -> int:
        return default_workers(engine)

    def __enter__(self) -> LocalProcesses:
        if self.workers > 1:
            self._start()
            assert self._executor is not None
            self._executor.submit(int)  # start the workers now, while the caller reads files
        return self

    def _start(self) -> None:
        context = multiprocessing.get_context("forkserver")
        # Workers fork from a server that has imported the analysis code once.
        context.set_forkserver_preload([__name__])
        self._executor = ProcessPoolExecutor(
            self.workers,
            mp_context=context,
            initializer=_init_worker,
            initargs=(self.engine.settings(), max(1, (os.cpu_count() or 1) // self.workers)),
        )

    def _submit(self, task: Callable[..., R], *args: Any) -> Future[R]:
        """`task` on a worker; the workers are started afresh when one has died."""
        assert self._executor is not None
        try:
            return self._executor.submit(task, *args)
        except BrokenExecutor:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._start()
            return self._executor.submit(task, *args)

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
        return _died_as_failure(self._submit(_analyze_pixels_in_worker, pixels, focus))

    def _ordered(
        self, task: Callable[..., R], items: Iterator[tuple[T, tuple[Any, ...]]]
    ) -> Iterator[tuple[T, R | AnalysisFailure]]:
        """Run `task` on the workers with a bounded number in flight; results in input order."""
        window: deque[tuple[T, Future[R | AnalysisFailure]]] = deque()
        for item, args in items:
            window.append((item, _died_as_failure(self._submit(task, *args))))
            if len(window) >= 2 * self.workers:
                first, future = window.popleft()
                yield first, future.result()
        while window:
            first, future = window.popleft()
            yield first, future.result()


def _died_as_failure(future: Future[R]) -> Future[R | AnalysisFailure]:
    """`future`, with WORKER_DIED as its result where its worker process died."""
    out: Future[R | AnalysisFailure] = Future()

    def settle(done: Future[R]) -> None:
        try:
            out.set_result(done.result())
        except BrokenExecutor:
            out.set_result(WORKER_DIED)
        except BaseException as exc:  # cancelled, or the task's own error: the caller's
            out.set_exception(exc)

    future.add_done_callback(settle)
    return out
