"""Case reports: what a case found, on what evidence, how strong, decided by whom, and how
anyone can check it, gathered for a renderer (facesift.reports.case_report: HTML and PDF).

A person is identified in a report only by a reviewer's "confirm" (the latest decision on that
face or track for that person) that no second reviewer disputed; a disputed one is shown,
marked, and identifies nobody; rejected candidates never appear; unreviewed and inconclusive
ones appear only when asked for, marked as such. The scores shown with a decision are the
ones its reviewer saw (frozen with it); the face images are cut from the original files again
and aligned as in the comparison view.
"""

from __future__ import annotations

import hashlib
import io
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from PIL import Image

from facesift.errors import NotFound
from facesift.media.files import capture_time
from facesift.store.records import DecisionEntry
from facesift.workflows import compare, cooccurrence, discovery, evidence, review
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.identify import decision, identify
from facesift.workflows.results import Source

CHIP_PX = 160  # aligned faces in a report
THUMB_PX = 96  # cluster faces and best shots
CLUSTERS_SHOWN = 10
CLUSTER_FACES_SHOWN = 8
LEAD_WORDING = (
    "A face recognition result is an investigative lead, not an identification. Only a "
    "trained examiner's conclusion, reached on the evidence, may say more; every candidate in "
    "this report must be corroborated by other information before any action is taken."
)


@dataclass(frozen=True)
class Appearance:
    """One face (or video track) of the case as a person: how strong, who decided what."""

    target: str  # "face 12" or "track 3"
    face_id: int  # the face shown (a track's best shot)
    source: Source
    status: str  # confirmed, unreviewed or inconclusive
    shown: dict[str, Any]  # score, fmr, band, rank: as the reviewer saw them (or now)
    decision: DecisionEntry | None
    probe_jpeg: bytes
    reference_jpeg: bytes
    reference_face_id: int
    span: tuple[float, float] | None = None  # a track's first and last second
    best_shots: list[bytes] = field(default_factory=list)


@dataclass(frozen=True)
class PersonSection:
    person: str
    attributes: dict[str, Any]
    appearances: list[Appearance]

    @property
    def confirmed(self) -> list[Appearance]:
        return [a for a in self.appearances if a.status == "confirmed"]


@dataclass(frozen=True)
class ClusterSection:
    cluster_id: int
    faces: int
    media: int
    appears_with: list[str]
    thumbnails: list[bytes]


@dataclass(frozen=True)
class CitedFile:
    path: str
    sha256: str
    size: int
    kind: str
    taken: str | None  # EXIF or container time, as the file says
    camera: str | None
    frames: list[tuple[int, float | None]]  # the frames cited (videos)
    uploaded_as: list[str] = field(default_factory=list)  # names it was uploaded under


@dataclass(frozen=True)
class CaseReport:
    case: str
    generated_at: datetime
    version: str
    summary: dict[str, Any]
    people: list[PersonSection]
    clusters: list[ClusterSection]
    files: list[CitedFile]
    decision: dict[str, Any]  # model, threshold, calibration in force
    audit_head: tuple[int, str]
    include_unreviewed: bool
    lead_wording: str = LEAD_WORDING


def case_report(
    ctx: Context,
    case: str,
    *,
    people: Iterable[str] | None = None,
    include_unreviewed: bool = False,
) -> CaseReport:
    """Gather a case's report; `people` limits it to those people."""
    from facesift import __version__  # the package imports this module: import on use

    if not ctx.store.read(lambda tx: tx.case_exists(case)):
        raise NotFound(f"no case named {case!r} in this workspace")
    wanted = None if people is None else set(people)
    result = identify(ctx, case=case, top=5)
    decided = review.decisions(ctx, case=case)
    latest = {(d.face_id, d.track_id, d.person): d for d in review.standing(decided)}
    aligned: dict[int, compare.ComparedFace] = {}
    sections: dict[str, list[Appearance]] = {}

    def add(target: str, face_id: int, person: str, status: str, shown: dict[str, Any],
            entry: DecisionEntry | None, span: tuple[float, float] | None,
            best: list[int]) -> None:  # fmt: skip
        made = compare.compare(ctx, face_id, person=person, case=case, size=CHIP_PX,
                               aligned=aligned)  # fmt: skip
        sections.setdefault(person, []).append(
            Appearance(
                target=target,
                face_id=face_id,
                source=made.probe.source,
                status=status,
                shown=shown,
                decision=entry,
                probe_jpeg=_jpeg(made.probe.chip),
                reference_jpeg=_jpeg(made.reference.chip),
                reference_face_id=made.reference.face_id,
                span=span,
                best_shots=[
                    evidence.face_thumbnail(ctx, f, THUMB_PX) for f in best if f != face_id
                ][:3],
            )
        )

    for face in result.faces:
        assert face.face_id is not None
        for rank, c in enumerate(face.candidates, 1):
            entry = latest.get((face.face_id, None, c.person))
            status = _status(entry, c.above_threshold, include_unreviewed)
            if status is not None and (wanted is None or c.person in wanted):
                shown = entry.shown if entry else {**c.to_dict(), "rank": rank}
                add(f"face {face.face_id}", face.face_id, c.person, status, shown, entry,
                    None, [])  # fmt: skip
    for track in result.tracks:
        best_face = track.best_shot.face_id if track.best_shot else None
        if best_face is None:
            continue
        for rank, c in enumerate(track.candidates, 1):
            entry = latest.get((None, track.track_id, c.person))
            status = _status(entry, c.above_threshold, include_unreviewed)
            if status is not None and (wanted is None or c.person in wanted):
                shown = entry.shown if entry else {**c.to_dict(), "rank": rank}
                add(f"track {track.number}", best_face, c.person, status, shown, entry,
                    (track.start, track.end), track.best_faces)  # fmt: skip

    gallery = {p.name: p for p in ctx.store.read(lambda tx: tx.people())}
    order = {"confirmed": 0, "disputed": 1, "inconclusive": 2, "unreviewed": 3}
    people_sections = [
        PersonSection(
            person,
            dict(gallery[person].attributes) if person in gallery else {},
            sorted(found, key=lambda a: (order[a.status], -float(a.shown.get("score", 0.0)))),
        )
        for person, found in sorted(
            sections.items(), key=lambda kv: (-sum(a.status == "confirmed" for a in kv[1]), kv[0])
        )
    ]
    clusters = _clusters(ctx, case)
    media = ctx.store.read(lambda tx: tx.media(case))
    kinds = {m.sha256: m.kind for m in media}
    metadata = ctx.store.read(lambda tx: tx.media_metadata(list(kinds)))
    names = ctx.store.read(lambda tx: tx.upload_names(list(kinds)))
    files = _cited(people_sections, kinds, metadata, names)
    in_force = policy(ctx, case)
    times = [capture_time(kinds[sha], exif) for sha, (_, exif) in metadata.items()]
    dated = sorted(t.replace(tzinfo=None) for t in times if t is not None)
    reviewers = sorted({d.reviewer for d in decided} | {c.reviewer for d in decided
                                                        for c in d.checks})  # fmt: skip
    summary = {
        "photos": sum(m.kind == "image" for m in media),
        "videos": sum(m.kind == "video" for m in media),
        "video_seconds": sum(
            float(metadata[m.sha256][1].get("duration") or 0.0)
            for m in media
            if m.kind == "video" and m.sha256 in metadata
        ),
        "faces": sum(m.faces for m in media),
        "people_identified": sum(1 for s in people_sections if s.confirmed),
        "confirmed_appearances": sum(len(s.confirmed) for s in people_sections),
        "unknown_clusters": len(clusters),
        "reviewers": reviewers,
        "period": (dated[0], dated[-1]) if dated else None,
    }
    head = ctx.store.read(lambda tx: tx.audit_log.head())
    return CaseReport(
        case=case,
        generated_at=datetime.now(UTC),
        version=__version__,
        summary=summary,
        people=people_sections,
        clusters=clusters,
        files=files,
        decision=decision(ctx, in_force).to_dict(),
        audit_head=head,
        include_unreviewed=include_unreviewed,
    )


def record_report(ctx: Context, case: str, fmt: str, data: bytes, out: str | None) -> str:
    """Audit a generated report by its SHA-256 (returned)."""
    digest = hashlib.sha256(data).hexdigest()
    ctx.store.transaction(
        lambda tx: tx.audit(
            ctx.actor,
            "export.report",
            objects={"case": case},
            details={"format": fmt, "sha256": digest, "bytes": len(data), "out": out},
        )
    )
    return digest


def _status(entry: DecisionEntry | None, above: bool, include_unreviewed: bool) -> str | None:
    """How an appearance is shown: confirmed, or disputed (a confirmation a second reviewer
    disputed); unreviewed (above the threshold) or inconclusive only when asked for;
    rejected never."""
    if entry is not None:
        if entry.verdict == "confirm":
            return "disputed" if entry.status == "disputed" else "confirmed"
        if entry.verdict == "inconclusive" and include_unreviewed:
            return "inconclusive"
        return None
    return "unreviewed" if include_unreviewed and above else None


def _jpeg(pixels: np.ndarray, quality: int = 88) -> bytes:
    out = io.BytesIO()
    Image.fromarray(pixels).convert("RGB").save(out, "JPEG", quality=quality)
    return out.getvalue()


def _clusters(ctx: Context, case: str) -> list[ClusterSection]:
    """Open clusters worth a look: among the largest, first those seen with identified or
    gallery people, then by size."""
    listing = discovery.clusters(ctx, case=case)
    candidates = []
    for view in listing.clusters[: CLUSTERS_SHOWN * 3]:  # the largest, then by company
        found = cooccurrence.cooccur(ctx, f"cluster:{view.cluster_id}", case=case)
        people = [c.name for c in found.companions if c.kind == "person"]
        candidates.append((view, people))
    candidates.sort(key=lambda vp: (-len(vp[1]), -vp[0].appearances, vp[0].cluster_id))
    out = []
    for view, people in candidates[:CLUSTERS_SHOWN]:
        best = sorted(view.faces, key=lambda f: (-f.quality, f.face_id))[:CLUSTER_FACES_SHOWN]
        out.append(
            ClusterSection(
                view.cluster_id,
                len(view.faces),
                view.media,
                people,
                [evidence.face_thumbnail(ctx, f.face_id, THUMB_PX) for f in best],
            )
        )
    return out


def _cited(
    sections: list[PersonSection],
    kinds: dict[str, str],
    metadata: dict[str, tuple[int, dict[str, Any]]],
    names: dict[str, list[str]],
) -> list[CitedFile]:
    """Every file a report cites, with what it says about itself and the frames cited."""
    frames: dict[str, set[tuple[int, float | None]]] = {}
    paths: dict[str, str] = {}
    for section in sections:
        for a in section.appearances:
            assert a.source.sha256 is not None and a.source.path is not None
            paths[a.source.sha256] = a.source.path
            cited = frames.setdefault(a.source.sha256, set())
            if a.source.timestamp is not None:
                cited.add((a.source.frame_index or 0, a.source.timestamp))
    out = []
    for sha, path in sorted(paths.items(), key=lambda kv: kv[1]):
        size, exif = metadata.get(sha, (0, {}))
        kind = kinds.get(sha, "image")
        when = capture_time(kind, exif)
        camera = " ".join(str(exif[k]) for k in ("Make", "Model") if exif.get(k)) or None
        out.append(
            CitedFile(
                path,
                sha,
                size,
                kind,
                None if when is None else when.isoformat(),
                camera,
                sorted(frames[sha], key=lambda f: f[0]),
                names.get(sha, []),
            )
        )
    return out
