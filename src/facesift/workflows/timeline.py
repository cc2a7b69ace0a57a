"""Where and when a person (or an unknown person's cluster) was seen: their appearances in
order of the time their sources vouch for.

A person's appearances are their enrolled faces and the faces and video tracks a reviewer
confirmed as them (the latest decision on each counts; a disputed one is shown as such).
A cluster's are its faces, a video track once. Each appearance is listed once per post or
capture its file was seen in, at the time it was posted (else captured); a file without
a source is listed once, at the time its EXIF or video container gives (marked as such),
else last. Times are UTC; EXIF times carry no zone and are shown as written.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from facesift.errors import NotFound
from facesift.store.records import DecisionEntry
from facesift.store.store import Tx
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.discovery import dated_faces, show, unidentified
from facesift.workflows.results import Appearance, ClusteredFace, Timeline, TimelineEntry

CLUSTER_PREFIX = "cluster:"


def timeline(
    ctx: Context, target: str, *, case: str | None = None, leads: bool = False
) -> Timeline:
    """The appearances of a gallery person (by name) or of a cluster ("cluster:ID"), in time
    order; with `leads`, a person's also include faces and tracks that match them at the
    decision threshold and nobody has reviewed. The query goes into the audit log like
    every search."""
    number = target.strip().removeprefix(CLUSTER_PREFIX)
    if target.strip().startswith(CLUSTER_PREFIX):
        if not number.isdigit():
            raise NotFound(f"{target!r}: a cluster is named cluster:ID, ID a number")
        appearances = _cluster_appearances(ctx, int(number), case)
        about: dict[str, Any] = {"cluster": int(number)}
    else:
        matched: list[int] = []
        if leads:
            unknown = unidentified(ctx, case, policy(ctx, case))
            matched = [face for face, person in unknown.matched.items() if person == target]
        appearances = ctx.store.read(lambda tx: _person_appearances(tx, target, case, matched))
        about = {"person": target, "leads": leads}
    result = Timeline(about, case, len(appearances), _entries(appearances))
    ctx.store.transaction(
        lambda tx: tx.audit(
            ctx.actor,
            "timeline",
            inputs={**about, "case": case},
            details={"appearances": result.appearances, "entries": len(result.entries)},
        )
    )
    return result


def _entries(appearances: list[Appearance]) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for a in appearances:
        for source in a.sources:
            basis = "posted" if source.posted_at else "captured" if source.captured_at else None
            entries.append(TimelineEntry(source.when, basis, a, source))
        if not a.sources:
            basis = "taken (EXIF or container)" if a.taken_at else None
            entries.append(TimelineEntry(a.taken_at, basis, a, None))
    entries.sort(key=_order)
    return entries


def _order(entry: TimelineEntry) -> tuple[bool, datetime, str, int]:
    when = entry.when
    if when is not None and when.tzinfo is None:
        when = when.replace(tzinfo=UTC)  # EXIF: no zone; ordered as if UTC
    return (
        when is None,
        when or datetime.min.replace(tzinfo=UTC),
        entry.appearance.path,
        entry.appearance.face_id,
    )


def _appearance(face: ClusteredFace, basis: str, span: tuple[float, float] | None) -> Appearance:
    s = face.source
    return Appearance(
        face.face_id,
        face.track_id,
        s.path or "",
        s.sha256 or "",
        s.frame_index or 0,
        s.timestamp,
        span,
        basis,
        face.taken_at,
        s.media_sources,
    )


def _cluster_appearances(ctx: Context, cluster_id: int, case: str | None) -> list[Appearance]:
    """A cluster's faces, a video track once (its best face by quality)."""
    view = show(ctx, cluster_id, case=case)
    best: dict[tuple[str, int], ClusteredFace] = {}
    for face in view.faces:
        key = ("track", face.track_id) if face.track_id else ("face", face.face_id)
        if key not in best or face.quality > best[key].quality:
            best[key] = face
    return [_appearance(f, f"cluster {cluster_id}", None) for f in best.values()]


def _person_appearances(
    tx: Tx, name: str, case: str | None, matched: list[int]
) -> list[Appearance]:
    enrolled = [f.id for f in tx.faces(person=name, case=case)]
    reviewed = _latest(tx.reviews.all(case), name)
    if not enrolled and not reviewed and not tx.people_named(name):
        raise NotFound(f"no person named {name!r} in the gallery, and no face reviewed as them")
    face_basis = {face_id: "enrolled" for face_id in enrolled}
    track_basis: dict[int, str] = {}
    for (kind, target), d in reviewed.items():
        if d.verdict != "confirm":
            continue
        if kind == "face":
            face_basis.setdefault(target, _basis(d))
        else:
            track_basis[target] = _basis(d)
    tracks = tx.video_tracks(case, None, list(track_basis))
    shots = {t.id: t.best_face.id for t in tracks if t.best_face is not None}
    faces = dated_faces(tx, [*face_basis, *shots.values(), *matched])
    spans = {t.id: (t.start, t.end) for t in tracks}
    out = [_appearance(faces[f], b, None) for f, b in face_basis.items() if f in faces]
    out += [
        _appearance(faces[shots[t]], b, spans[t])
        for t, b in track_basis.items()
        if t in shots and shots[t] in faces
    ]
    lead_by: dict[tuple[str, int], ClusteredFace] = {}  # a track once, by its best face
    for face_id in matched:
        face = faces.get(face_id)
        if face is None or face_id in face_basis or face.track_id in track_basis:
            continue
        key = ("track", face.track_id) if face.track_id else ("face", face_id)
        if key in reviewed:  # reviewed and not confirmed: rejected or inconclusive
            continue
        if key not in lead_by or face.quality > lead_by[key].quality:
            lead_by[key] = face
    out += [_appearance(f, LEAD, None) for f in lead_by.values()]
    return out


LEAD = "lead: matches at the decision threshold, not reviewed"


def _latest(decisions: list[DecisionEntry], name: str) -> dict[tuple[str, int], DecisionEntry]:
    """The latest decision about `name` on each face ("face", id) or track ("track", id)."""
    latest: dict[tuple[str, int], DecisionEntry] = {}
    for d in decisions:  # oldest first
        if d.person != name:
            continue
        if d.face_id is not None:
            latest[("face", d.face_id)] = d
        elif d.track_id is not None:
            latest[("track", d.track_id)] = d
    return latest


def _basis(decision: DecisionEntry) -> str:
    return f"confirmed by {decision.reviewer} ({decision.status})"
