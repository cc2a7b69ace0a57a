"""The Ray executor: analysis on the workers of a Ray cluster (or a Ray instance started on
this machine), results committed by the scanning process as with local workers.

Each worker is a Ray actor holding one FaceEngine, loaded once. Photos travel as their bytes
(a node needs no access to the scanning machine's disks) and video frames as pixels; the
scanning process hashes files, decodes videos and writes the store. A worker that dies
(killed, out of memory, its node lost) is restarted by Ray and its tasks retried; one that
keeps dying fails its items with WORKER_DIED, and a rerun retries them. Nodes must run the
same facesift and models as the scanning process: a worker whose models differ is refused,
since the store records one model with every face.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

from facesift.errors import FacesiftError, MediaError
from facesift.execution.analysis import AnalyzedImage, analyze_file, analyze_pixels
from facesift.execution.local import WORKER_DIED
from facesift.media.image import read_image_bytes
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Box, Face

T = TypeVar("T")

# A task whose worker died is retried this often on the restarted worker before its item
# fails with WORKER_DIED: a photo that kills every worker it reaches must not stop the scan.
TASK_RETRIES = 2
# Photos queued on each worker at once: one to work on and the next ones ready.
TASKS_PER_WORKER = 3
# What identifies the models a worker analyses with: they must be the scanning process's.
MODEL_KEYS = (
    "detector",
    "detector_sha256",
    "landmarks",
    "landmarks_sha256",
    "embedder",
    "embedder_sha256",
)


class RayUnavailable(FacesiftError):
    """Ray is not installed, or the cluster cannot be reached."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayUnavailable("the Ray executor needs Ray: pip install 'facesift[ray]'") from None
    return ray


class Analyst:
    """A Ray worker's analysis state: one FaceEngine, loaded when the worker starts."""

    def __init__(self, settings: dict[str, Any], threads: int) -> None:
        os.environ["FACESIFT_THREADS"] = str(threads)
        self.engine = FaceEngine(**settings)

    def models(self) -> dict[str, Any]:
        described = self.engine.describe()
        return {key: described.get(key) for key in MODEL_KEYS}

    def pid(self) -> int:
        return os.getpid()

    def photo(self, data: bytes, thorough: bool, templates: bool) -> AnalyzedImage | str:
        return analyze_file(self.engine, data, thorough, templates)

    def frame(self, pixels: np.ndarray, focus: list[Box] | None) -> list[Face] | str:
        return analyze_pixels(self.engine, pixels, focus)


class RayCluster:
    """Makes Ray executors (an ExecutorFactory): connects to the cluster at `address` (or
    $RAY_ADDRESS), else starts a Ray instance on this machine (kept for this process)."""

    def __init__(self, address: str | None = None, cpus_per_worker: int | None = None) -> None:
        """`cpus_per_worker`: the CPUs each worker reserves and computes with (its threads);
        default: the cluster's CPUs shared evenly among the workers."""
        self.address = address
        self.cpus_per_worker = cpus_per_worker

    def connect(self) -> Any:
        ray = _ray()
        if not ray.is_initialized():
            options: dict[str, Any] = {
                "include_dashboard": False,
                "log_to_driver": False,
                "logging_level": logging.WARNING,
                "configure_logging": False,
            }
            try:
                address = self.address or os.environ.get("RAY_ADDRESS")
                if address:
                    ray.init(address=address, **options)
                else:
                    ray.init(num_cpus=os.cpu_count() or 1, **options)
            except (ConnectionError, RuntimeError, ValueError) as exc:
                where = self.address or "a local instance"
                raise RayUnavailable(f"cannot start Ray ({where}): {exc}") from None
        return ray

    def default_workers(self, engine: FaceEngine) -> int:
        """One worker per CPU of the cluster."""
        return max(1, int(self.connect().cluster_resources().get("CPU", 1)))

    def __call__(
        self, engine: FaceEngine, workers: int, thorough: bool = False, templates: bool = False
    ) -> RayActors:
        return RayActors(self.connect(), engine, workers, thorough, templates, self.cpus_per_worker)


class RayActors:
    """Analyses photos and video frames on `workers` Ray actors, results in input order."""

    def __init__(
        self,
        ray: Any,
        engine: FaceEngine,
        workers: int,
        thorough: bool,
        templates: bool,
        cpus_per_worker: int | None = None,
    ) -> None:
        self._ray = ray
        self.engine = engine
        self.workers = max(1, workers)
        self.thorough = thorough
        self.templates = templates
        self.cpus_per_worker = cpus_per_worker
        self._actors: list[Any] = []
        self._next = 0

    def __enter__(self) -> RayActors:
        resources = self._ray.cluster_resources()
        cpus = float(resources.get("CPU", 1))
        gpus = float(resources.get("GPU", 0))
        threads = self.cpus_per_worker or max(1, int(cpus) // self.workers)
        remote = self._ray.remote(Analyst).options(
            num_cpus=min(float(threads), cpus / self.workers),
            # A node's GPU is shared by the workers placed on it (ONNX Runtime uses it).
            num_gpus=min(1.0, gpus / self.workers) if gpus else 0,
            max_restarts=-1,
            max_task_retries=TASK_RETRIES,
        )
        self._actors = [remote.remote(self.engine.settings(), threads) for _ in range(self.workers)]
        self._check_models()
        return self

    def _check_models(self) -> None:
        described = self.engine.describe()
        ours = {key: described.get(key) for key in MODEL_KEYS}
        for theirs in self._ray.get([a.models.remote() for a in self._actors]):
            if theirs != ours:
                self.__exit__()
                raise RayUnavailable(
                    f"a Ray worker analyses with other models ({theirs}) than this process "
                    f"({ours}): install the same facesift and models on every node"
                )

    def __exit__(self, *_: object) -> None:
        for actor in self._actors:
            self._ray.kill(actor)
        self._actors = []

    def worker_pids(self) -> list[int]:
        """The workers' process ids (on their nodes)."""
        return list(self._ray.get([a.pid.remote() for a in self._actors]))

    def imap(self, items: Iterator[tuple[T, Path]]) -> Iterator[tuple[T, AnalyzedImage | str]]:
        """Photos: (item, path) → (item, analysis or the reason it failed), in input order.

        Each worker holds up to TASKS_PER_WORKER photos in its own queue, so it starts the next
        one as soon as it finishes one, while this process is still storing earlier results
        (with one photo at a time, as Ray's ActorPool hands them out, a worker waits for this
        process to take its result, and a worker ahead in the order waits for the others)."""
        window: deque[tuple[T, Any, int]] = deque()
        outstanding = [0] * len(self._actors)
        for item, path in items:
            try:
                data = read_image_bytes(path)
            except MediaError as exc:
                window.append((item, exc.reason, -1))
            else:
                k = min(range(len(outstanding)), key=outstanding.__getitem__)
                outstanding[k] += 1
                ref = self._actors[k].photo.remote(data, self.thorough, self.templates)
                window.append((item, ref, k))
            if len(window) >= TASKS_PER_WORKER * self.workers:
                yield self._settle(window.popleft(), outstanding)
        while window:
            yield self._settle(window.popleft(), outstanding)

    def _settle(
        self, entry: tuple[T, Any, int], outstanding: list[int]
    ) -> tuple[T, AnalyzedImage | str]:
        item, ref, k = entry
        if k < 0:
            return item, ref
        outstanding[k] -= 1
        try:
            return item, self._ray.get(ref)
        except self._ray.exceptions.RayActorError:
            return item, WORKER_DIED

    def submit_pixels(
        self, pixels: np.ndarray, focus: list[Box] | None = None
    ) -> Future[list[Face] | str]:
        """A video frame's faces, as a future; frames go to the workers in turn."""
        actor = self._actors[self._next % len(self._actors)]
        self._next += 1
        ref = actor.frame.remote(pixels, focus)
        out: Future[list[Face] | str] = Future()

        def settle(done: Future[Any]) -> None:
            try:
                out.set_result(done.result())
            except self._ray.exceptions.RayActorError:
                out.set_result(WORKER_DIED)
            except BaseException as exc:  # the task's own error: the caller's
                out.set_exception(exc)

        ref.future().add_done_callback(settle)
        return out
