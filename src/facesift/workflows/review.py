"""Review: a named person decides whether a candidate is the person in a face, and a second
person verifies or disputes that decision.

A decision freezes what its reviewer was shown, recomputed here from the store (never taken
from the caller): the candidate's score, estimated FMR, band, rank, the threshold, the
calibration in force and the model. Decisions are never changed; a later one is added beside
the earlier ones, and each is in the audit log with the transaction that stored it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from facesift.errors import NotFound, WorkspaceError
from facesift.store.records import DecisionEntry
from facesift.store.store import Tx
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.identify import candidates, decision, gallery, identify
from facesift.workflows.results import Candidate, Decision, Source, TrackMatches

VERDICTS = ("confirm", "reject", "inconclusive")
BAND_ORDER = {"strong": 3, "possible": 2, "weak": 1, "uncalibrated": 0}
CHECKS = ("verified", "disputed")
TRACK_PREFIX = "track:"


def parse_target(target: str | int) -> tuple[int | None, int | None]:
    """(face id, track id) of "123" (a face) or "track:45" (a video track)."""
    text = str(target).strip()
    try:
        if text.startswith(TRACK_PREFIX):
            return None, int(text[len(TRACK_PREFIX) :])
        return int(text), None
    except ValueError:
        raise WorkspaceError(
            f"{text!r}: name a face by its id (123) or a video track as track:ID"
        ) from None


def review(
    ctx: Context,
    target: str | int,
    person: str,
    verdict: str,
    *,
    note: str | None = None,
    case: str | None = None,
) -> DecisionEntry:
    """Record `ctx.actor`'s `verdict` ("confirm", "reject" or "inconclusive") on whether the
    face or track `target` is the gallery person `person`, with what the search shows now."""
    if verdict not in VERDICTS:
        raise WorkspaceError(f"verdict must be one of {', '.join(VERDICTS)}, not {verdict!r}")
    face_id, track_id = parse_target(target)
    shown = what_is_shown(ctx, face_id, track_id, person, case)

    def write(tx: Tx) -> DecisionEntry:
        entry = tx.reviews.add(
            face_id=face_id,
            track_id=track_id,
            person=person,
            person_id=shown["person_id"],
            verdict=verdict,
            reviewer=ctx.actor,
            note=note,
            shown=shown,
        )
        tx.audit(
            ctx.actor,
            "review.decide",
            objects={"decision": entry.id, "face": face_id, "track": track_id, "person": person},
            details={"verdict": verdict, "note": note, "shown": shown},
        )
        return entry

    return ctx.store.transaction(write)


def check(
    ctx: Context, decision_id: int, outcome: str, *, note: str | None = None
) -> DecisionEntry:
    """A second reviewer's `outcome` ("verified" or "disputed") on a decision; the reviewer
    who made it cannot check it (two-person rule)."""
    if outcome not in CHECKS:
        raise WorkspaceError(f"a check is one of {', '.join(CHECKS)}, not {outcome!r}")

    def write(tx: Tx) -> DecisionEntry:
        entry = tx.reviews.get(decision_id)
        if entry is None:
            raise NotFound(f"no review decision {decision_id}")
        if entry.reviewer == ctx.actor:
            raise WorkspaceError(
                f"decision {decision_id} was made by {ctx.actor}: a second person must check it"
            )
        check_id = tx.reviews.add_check(decision_id, outcome, ctx.actor, note)
        tx.audit(
            ctx.actor,
            "review.check",
            objects={"decision": decision_id, "check": check_id},
            details={"outcome": outcome, "note": note},
        )
        updated = tx.reviews.get(decision_id)
        assert updated is not None
        return updated

    return ctx.store.transaction(write)


@dataclass(frozen=True)
class QueueItem:
    """A candidate to review: the face (or track), the person, and the decisions so far."""

    target: str  # "123" or "track:45"
    face_id: int | None  # the face to show: the face itself, or the track's best shot
    track: TrackMatches | None
    candidate: Candidate
    rank: int
    decisions: list[DecisionEntry]
    source: Source = field(default_factory=Source)  # the file, and its posts and captures


def queue(ctx: Context, case: str, band: str = "possible") -> tuple[list[QueueItem], Decision]:
    """A case's candidates in `band` or stronger (an uncalibrated score: above the threshold),
    best score first, each with the decisions made on it; and how scores were judged."""
    result = identify(ctx, case=case, top=3)
    floor = BAND_ORDER.get(band, BAND_ORDER["possible"])

    def wanted(c: Candidate) -> bool:
        return BAND_ORDER[c.band] >= floor or (c.band == "uncalibrated" and c.above_threshold)

    items = [
        QueueItem(str(face.face_id), face.face_id, None, c, rank,
                  [d for d in face.decisions if d.person == c.person], face.source)
        for face in result.faces
        for rank, c in enumerate(face.candidates, 1)
        if wanted(c)
    ] + [
        QueueItem(f"track:{track.track_id}",
                  track.best_shot.face_id if track.best_shot else None, track, c, rank,
                  [d for d in track.decisions if d.person == c.person], track.source)
        for track in result.tracks
        for rank, c in enumerate(track.candidates, 1)
        if wanted(c)
    ]  # fmt: skip
    items.sort(key=lambda i: -i.candidate.score)
    return items, result.decision


def standing(entries: list[DecisionEntry]) -> list[DecisionEntry]:
    """The decision that stands for each face (or track) and person: the latest one."""
    latest: dict[tuple[int | None, int | None, str], DecisionEntry] = {}
    for entry in sorted(entries, key=lambda e: e.id):
        latest[(entry.face_id, entry.track_id, entry.person)] = entry
    return sorted(latest.values(), key=lambda e: e.id)


def decisions(ctx: Context, *, case: str | None = None) -> list[DecisionEntry]:
    """Every review decision (of one case's faces and tracks, or all), oldest first."""

    def read(tx: Tx) -> list[DecisionEntry]:
        if case is not None and not tx.case_exists(case):
            raise NotFound(f"no case named {case!r} in this workspace")
        return tx.reviews.all(case)

    return ctx.store.read(read)


def what_is_shown(
    ctx: Context, face_id: int | None, track_id: int | None, person: str, case: str | None
) -> dict[str, Any]:
    """What a search of this face or track shows of `person` now: the frozen copy a decision
    keeps. Refused when the target does not exist or `person` is not in the gallery."""

    def read(tx: Tx) -> tuple[np.ndarray, float]:
        if face_id is not None:
            face = tx.stored_face(face_id)
            if face is None:
                raise NotFound(f"no face {face_id} in this workspace")
            if face.model.sha256 != ctx.model.sha256:
                raise WorkspaceError(f"face {face_id} was made by another model")
            if face.person is not None:
                raise WorkspaceError(
                    f"face {face_id} is a gallery face (enrolled as {face.person}): review the "
                    "faces of a case (the face ids `identify` lists)"
                )
            return face.face.embedding, face.face.quality.face_px
        assert track_id is not None
        templates = tx.track_templates([track_id])
        if track_id not in templates:
            raise NotFound(f"no video track {track_id} in this workspace")
        return templates[track_id], float("inf")

    vector, face_px = ctx.store.read(read)
    in_force = policy(ctx, case)
    everyone = max(1, gallery(ctx).people)
    ranked = candidates(ctx, vector[None].astype(np.float32), everyone, [face_px], in_force)[0]
    for rank, candidate in enumerate(ranked, start=1):
        if candidate.person == person:
            made = decision(ctx, in_force)
            return {
                **candidate.to_dict(),
                "rank": rank,
                "candidates": len(ranked),
                "threshold": made.to_dict()["threshold"],
                "calibration": made.calibration,
                "model": made.model,
                "case": case,
            }
    raise WorkspaceError(f"{person!r} is not a person of the gallery")
