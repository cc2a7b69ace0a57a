"""Background jobs in the store: what was asked, by whom, how far it got, how it ended."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from facesift.store.records import JobEntry
from facesift.store.schema import Job, utcnow

FINISHED = ("done", "failed", "interrupted")


class Jobs:
    """The jobs part of a transaction (`Tx.jobs`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(self, kind: str, actor: str, params: dict[str, Any]) -> JobEntry:
        job = Job(kind=kind, actor=actor, params=params, status="queued", done=0, total=0)
        self._session.add(job)
        self._session.flush()
        return _entry(job)

    def get(self, job_id: int) -> JobEntry | None:
        job = self._session.get(Job, job_id)
        return None if job is None else _entry(job)

    def all(self, limit: int = 100) -> list[JobEntry]:
        jobs = self._session.scalars(select(Job).order_by(Job.id.desc()).limit(limit))
        return [_entry(j) for j in jobs]

    def progress(self, job_id: int, status: str, done: int, total: int) -> None:
        self._session.execute(
            update(Job).where(Job.id == job_id).values(status=status, done=done, total=total)
        )

    def finish(
        self, job_id: int, status: str, result: dict[str, Any] | None, error: str | None
    ) -> None:
        self._session.execute(
            update(Job)
            .where(Job.id == job_id)
            .values(status=status, result=result, error=error, finished_at=utcnow())
        )

    def interrupt_unfinished(self) -> list[int]:
        """Mark jobs left queued or running by a server that stopped; their ids."""
        ids = list(self._session.scalars(select(Job.id).where(Job.status.not_in(FINISHED))))
        if ids:
            self._session.execute(
                update(Job)
                .where(Job.id.in_(ids))
                .values(status="interrupted", finished_at=utcnow(), error="the server stopped")
            )
        return ids


def _entry(job: Job) -> JobEntry:
    return JobEntry(
        job.id,
        job.kind,
        job.actor,
        job.status,
        dict(job.params),
        job.done,
        job.total,
        job.result,
        job.error,
        job.created_at,
        job.finished_at,
    )
