"""Review decisions and their second-person checks in the store; never changed once written
(a later decision on the same face and person is added beside the earlier ones)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from facesift.store import repository as repo
from facesift.store.records import CheckEntry, DecisionEntry
from facesift.store.schema import Face, Media, ReviewCheck, ReviewDecision, Track


class Reviews:
    """The review part of a transaction (`Tx.reviews`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def add(
        self,
        *,
        face_id: int | None,
        track_id: int | None,
        person: str,
        person_id: int | None,
        verdict: str,
        reviewer: str,
        note: str | None,
        shown: dict[str, Any],
    ) -> DecisionEntry:
        row = ReviewDecision(
            face_id=face_id,
            track_id=track_id,
            person=person,
            person_id=person_id,
            verdict=verdict,
            reviewer=reviewer,
            note=note,
            shown=shown,
        )
        self._session.add(row)
        self._session.flush()
        return _decision(row, [])

    def add_check(self, decision_id: int, outcome: str, reviewer: str, note: str | None) -> int:
        row = ReviewCheck(decision_id=decision_id, outcome=outcome, reviewer=reviewer, note=note)
        self._session.add(row)
        self._session.flush()
        return row.id

    def get(self, decision_id: int) -> DecisionEntry | None:
        row = self._session.get(ReviewDecision, decision_id)
        return None if row is None else self._with_checks([row])[0]

    def face_exists(self, face_id: int) -> bool:
        return self._session.get(Face, face_id) is not None

    def track_exists(self, track_id: int) -> bool:
        return self._session.get(Track, track_id) is not None

    def of(
        self, face_ids: Sequence[int] = (), track_ids: Sequence[int] = ()
    ) -> list[DecisionEntry]:
        """The decisions on any of these faces or tracks, oldest first."""
        if not face_ids and not track_ids:
            return []
        rows: list[ReviewDecision] = []
        for chunk in _chunks(list(face_ids)):
            rows += self._session.scalars(
                select(ReviewDecision).where(ReviewDecision.face_id.in_(chunk))
            )
        for chunk in _chunks(list(track_ids)):
            rows += self._session.scalars(
                select(ReviewDecision).where(ReviewDecision.track_id.in_(chunk))
            )
        return self._with_checks(sorted(rows, key=lambda r: r.id))

    def all(self, case: str | None = None) -> list[DecisionEntry]:
        """Every decision, of one case's faces and tracks or of all, oldest first."""
        query = select(ReviewDecision).order_by(ReviewDecision.id)
        if case is not None:
            media = repo.in_case(select(Media.id), case)
            query = (
                query.outerjoin(Face, Face.id == ReviewDecision.face_id)
                .outerjoin(Track, Track.id == ReviewDecision.track_id)
                .where(or_(Face.media_id.in_(media), Track.media_id.in_(media)))
            )
        return self._with_checks(list(self._session.scalars(query)))

    def _with_checks(self, rows: list[ReviewDecision]) -> list[DecisionEntry]:
        checks: dict[int, list[CheckEntry]] = {}
        for chunk in _chunks([r.id for r in rows]):
            for c in self._session.scalars(
                select(ReviewCheck)
                .where(ReviewCheck.decision_id.in_(chunk))
                .order_by(ReviewCheck.id)
            ):
                checks.setdefault(c.decision_id, []).append(
                    CheckEntry(c.id, c.outcome, c.reviewer, c.at, c.note)
                )
        return [_decision(r, checks.get(r.id, [])) for r in rows]


def _chunks(ids: list[int], size: int = 500) -> list[list[int]]:
    return [ids[i : i + size] for i in range(0, len(ids), size)]


def _decision(row: ReviewDecision, checks: list[CheckEntry]) -> DecisionEntry:
    return DecisionEntry(
        id=row.id,
        face_id=row.face_id,
        track_id=row.track_id,
        person=row.person,
        verdict=row.verdict,
        reviewer=row.reviewer,
        at=row.at,
        note=row.note,
        shown=dict(row.shown),
        checks=checks,
    )
