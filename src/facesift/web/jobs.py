"""Background jobs of the API: scans run one at a time in a thread of the server, with their
progress and outcome in the store (`GET /api/jobs/{id}`), never inside a request.

Jobs get an engine of their own (the same models), so that searches answered meanwhile do not
share one with them. A job left unfinished by a server that stopped is marked "interrupted"
when the next one starts; running the scan again resumes it (scans skip what is stored).
"""

from __future__ import annotations

import dataclasses
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from facesift.store.records import JobEntry
from facesift.store.store import Tx
from facesift.vision.engine import FaceEngine
from facesift.workflows import scan
from facesift.workflows.context import Context

PROGRESS_EVERY_S = 0.5  # how often a job's progress is written


class JobRunner:
    """Runs a server's jobs, one at a time; `workers`: the scan processes of each (None: one
    per core, 1: in the job's thread)."""

    def __init__(self, base: Context, workers: int | None = None) -> None:
        self._base = base
        self._workers = workers
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="facesift-job")
        self._engine: FaceEngine | None = None
        self._lock = threading.Lock()
        # What the last server left running is over: say so before taking new work.
        self.interrupted = base.store.transaction(lambda tx: tx.jobs.interrupt_unfinished())

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=False)

    def scan(self, ctx: Context, paths: list[Path], params: dict[str, Any]) -> JobEntry:
        """Queue a scan of `paths` by `ctx.actor`; its job (queued) at once."""

        def create(tx: Tx) -> JobEntry:
            job = tx.jobs.add("scan", ctx.actor, params)
            tx.audit(ctx.actor, "scan.start", objects={"job": job.id}, details=params)
            return job

        job = ctx.store.transaction(create)
        self._pool.submit(self._run_scan, job.id, ctx.actor, paths, params)
        return job

    def _context(self, actor: str) -> Context:
        with self._lock:
            if self._engine is None:
                self._engine = FaceEngine(**self._base.engine.settings())
        return dataclasses.replace(self._base, engine=self._engine, actor=actor)

    def _run_scan(self, job_id: int, actor: str, paths: list[Path], params: dict[str, Any]) -> None:
        store = self._base.store
        last = 0.0

        def progress(_path: Path, done: int, total: int) -> None:
            nonlocal last
            if time.monotonic() - last >= PROGRESS_EVERY_S or done == total:
                last = time.monotonic()
                store.transaction(lambda tx: tx.jobs.progress(job_id, "running", done, total))

        try:
            store.transaction(lambda tx: tx.jobs.progress(job_id, "running", 0, len(paths)))
            report = scan.scan(
                self._context(actor),
                paths,
                case=params.get("case"),
                progress=progress,
                workers=self._workers,
            )
            result = report.to_dict()
            status = "done"
            error = None
        except Exception as exc:  # the job's record says what went wrong; the server goes on
            result, status, error = None, "failed", f"{type(exc).__name__}: {exc}"
        store.transaction(lambda tx: tx.jobs.finish(job_id, status, result, error))
