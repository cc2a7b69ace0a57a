"""Typed results of the workflows, with their stable JSON form (fields are only ever added).

The listing rows (PersonEntry, MediaEntry, FaceEntry, GalleryChangeEntry) are the store's own
values (facesift.store.records), re-exported here with the other results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from PIL import Image

from facesift.execution.analysis import AnalysisFailure
from facesift.match.policy import uses_low_res_templates
from facesift.media.draw import draw_boxes
from facesift.media.sources import MediaSource, utc_iso
from facesift.media.video import VideoFrame
from facesift.store.records import ClusterOperationEntry as ClusterOperationEntry
from facesift.store.records import DecisionEntry as DecisionEntry
from facesift.store.records import FaceEntry as FaceEntry
from facesift.store.records import GalleryChangeEntry as GalleryChangeEntry
from facesift.store.records import MediaEntry as MediaEntry
from facesift.store.records import PersonEntry as PersonEntry
from facesift.vision.quality import Quality


def _box(bbox: tuple[float, float, float, float]) -> list[float]:
    return [round(v, 1) for v in bbox]


def _fmr(fmr: float | None) -> float | None:
    return None if fmr is None else float(f"{fmr:.3g}")


def _templates(face_px: float) -> str:
    """Which gallery templates a probe of this size was matched against."""
    return "low_resolution" if uses_low_res_templates(face_px) else "standard"


def _quality(quality: Quality) -> dict[str, Any]:
    return {
        "score": round(quality.score, 3),
        "face_px": round(quality.face_px, 1),
        "sharpness": round(quality.sharpness, 1),
        "flags": list(quality.flags),
    }


@dataclass(frozen=True)
class Source:
    """Where a face was found: the file (path and content hash) and, in a video, the frame;
    `media_sources`, the posts and web captures the file was seen in (earliest first).

    Its JSON has the file's fields when the file is known, the frame's when a frame is (a
    photo's face in the store is frame 0 with no timestamp), and the posts when there are.
    """

    path: str | None = None
    sha256: str | None = None
    frame_index: int | None = None
    timestamp: float | None = None
    media_sources: tuple[MediaSource, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.path is not None:
            out |= {"path": self.path, "sha256": self.sha256}
        if self.frame_index is not None:
            out |= {"frame_index": self.frame_index, "timestamp": self.timestamp}
        if self.media_sources:
            out["media_sources"] = [m.to_dict() for m in self.media_sources]
        return out


@dataclass(frozen=True)
class BestShot:
    """A track's best face: where to find it (frame, time, box) to cite or extract it;
    `face_id` when it is stored."""

    frame_index: int
    timestamp: float | None
    bbox: tuple[float, float, float, float]
    quality: float
    face_px: float
    face_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {} if self.face_id is None else {"face_id": self.face_id}
        return out | {
            "frame_index": self.frame_index,
            "timestamp": None if self.timestamp is None else round(self.timestamp, 3),
            "bbox": _box(self.bbox),
            "quality": round(self.quality, 3),
            "face_px": round(self.face_px, 1),
        }


@dataclass(frozen=True)
class FrameFace:
    """A face in an evidence frame: stored (with its id, track number and person) or, when
    the video was not scanned, detected for this call."""

    bbox: tuple[float, float, float, float]
    stored: bool
    face_id: int | None = None
    track: int | None = None
    person: str | None = None

    @property
    def label(self) -> str:
        parts = (
            f"face {self.face_id}" if self.face_id else "",
            f"track {self.track}" if self.track is not None else "",
            self.person or "",
        )
        return " ".join(part for part in parts if part)

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "bbox": _box(self.bbox),
            "track": self.track,
            "person": self.person,
            "stored": self.stored,
        }


@dataclass(frozen=True)
class Candidate:
    """A gallery person proposed for a face, with the evidence strength."""

    person: str
    person_id: int
    score: float
    above_threshold: bool
    best_face_id: int
    attributes: dict[str, Any] = field(default_factory=dict)
    fmr: float | None = None  # estimated false-match rate at this score; None if uncalibrated
    band: str = "uncalibrated"  # strong (FMR ≤ 1e-3), possible (≤ 1e-2), weak
    fmr_is_bound: bool = False  # the FMR is only an upper bound (no impostor scored this high)

    def to_dict(self) -> dict[str, Any]:
        return {
            "person": self.person,
            "person_id": self.person_id,
            "score": round(self.score, 4),
            "fmr": _fmr(self.fmr),
            "fmr_is_bound": self.fmr_is_bound,
            "band": self.band,
            "above_threshold": self.above_threshold,
            "best_face_id": self.best_face_id,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class FaceMatches:
    """One face of a probe and its ranked candidates; `source` says where it was found.

    Its JSON says which gallery templates it was matched against: "low_resolution" for faces
    narrower than LOW_RES_PROBE_PX (facesift.match.policy.uses_low_res_templates), else
    "standard".
    """

    bbox: tuple[float, float, float, float]
    det_score: float
    quality: Quality
    candidates: list[Candidate]
    face_id: int | None = None
    source: Source = field(default_factory=Source)
    decisions: list[DecisionEntry] = field(default_factory=list)  # reviews of a stored face

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "bbox": _box(self.bbox),
            "det_score": round(self.det_score, 3),
            "quality": _quality(self.quality),
            "templates": _templates(self.quality.face_px),
            "candidates": [c.to_dict() for c in self.candidates],
        }
        if self.face_id is not None:
            out["face_id"] = self.face_id
            out["decisions"] = [d.to_dict() for d in self.decisions]
        if source := self.source.to_dict():
            out["source"] = source
        return out


@dataclass(frozen=True)
class TrackMatches:
    """One person's continuous appearance in a video, its best shot and ranked candidates.

    `start`/`end` are seconds from the start of the video; `best_shot` says where to find the
    best face (frame index, timestamp, box) for citing or extracting it.
    """

    number: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    faces: int
    best_shot: BestShot | None
    candidates: list[Candidate]
    track_id: int | None = None
    source: Source = field(default_factory=Source)
    best_faces: list[int] = field(default_factory=list)  # stored faces with kept crops
    decisions: list[DecisionEntry] = field(default_factory=list)  # reviews of a stored track

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "track": self.number,
            "start": round(self.start, 3),
            "end": round(self.end, 3),
            "start_frame": self.start_frame,
            "end_frame": self.end_frame,
            "faces": self.faces,
            "best_shot": {} if self.best_shot is None else self.best_shot.to_dict(),
            "templates": _templates(self.best_shot.face_px if self.best_shot else float("inf")),
            "candidates": [c.to_dict() for c in self.candidates],
        }
        if self.track_id is not None:
            out["track_id"] = self.track_id
            out["best_faces"] = self.best_faces
            out["decisions"] = [d.to_dict() for d in self.decisions]
        if source := self.source.to_dict():
            out["source"] = source
        return out


@dataclass(frozen=True, eq=False)
class EvidenceFrame:
    """A video frame to cite: which file, which frame, and the faces in it.

    Each face: `face_id`, `bbox`, `track` (number in the video), `person` (when enrolled) and
    `stored` (False when the video was not scanned and the face was detected for this call).
    """

    video: str
    sha256: str
    frame: VideoFrame
    faces: list[FrameFace]

    def image(self, boxes: bool = False) -> Image.Image:
        """The frame, with each face outlined and labelled when `boxes`."""
        if not boxes:
            return Image.fromarray(self.frame.pixels)
        return draw_boxes(
            self.frame.pixels, [f.bbox for f in self.faces], [f.label for f in self.faces]
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "video": self.video,
            "sha256": self.sha256,
            "frame_index": self.frame.index,
            "timestamp": round(self.frame.timestamp, 6),
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass(frozen=True)
class Decision:
    """How scores were produced and judged: travels with every result as provenance."""

    threshold: float
    model: dict[str, Any]
    note: str
    calibration: dict[str, Any] | None = None  # where the FMR estimates come from
    # What a reader must know before trusting the FMRs (e.g. a population mismatch).
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "threshold": round(self.threshold, 4),
            "calibrated": self.calibration is not None,
            "calibration": self.calibration,
            "warnings": list(self.warnings),
            "note": self.note,
            "model": self.model,
        }


@dataclass(frozen=True)
class SearchResult:
    image: str
    sha256: str | None
    width: int
    height: int
    faces: list[FaceMatches]
    decision: Decision
    gallery_people: int
    tracks: list[TrackMatches] | None = None  # videos only
    video: dict[str, Any] | None = None  # videos only: the file's description, sampling
    # Where the same file (by SHA-256) was seen, when a scan recorded its posts or captures.
    media_sources: tuple[MediaSource, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "image": self.image,
            "sha256": self.sha256,
            "width": self.width,
            "height": self.height,
            "gallery_people": self.gallery_people,
            "faces": [f.to_dict() for f in self.faces],
            "decision": self.decision.to_dict(),
        }
        if self.media_sources:
            out["media_sources"] = [m.to_dict() for m in self.media_sources]
        if self.tracks is not None:
            out["tracks"] = [t.to_dict() for t in self.tracks]
            out["video"] = self.video
        return out


@dataclass(frozen=True)
class IdentifyResult:
    """Photo faces one by one; video faces by track (each face of a track is in its track)."""

    case: str | None
    faces: list[FaceMatches]
    decision: Decision
    gallery_people: int
    tracks: list[TrackMatches] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "gallery_people": self.gallery_people,
            "faces": [f.to_dict() for f in self.faces],
            "tracks": [t.to_dict() for t in self.tracks],
            "decision": self.decision.to_dict(),
        }


@dataclass(frozen=True)
class Verification:
    """Two photos' main faces compared. `same_person` is the decision at the threshold; the
    `verdict` says what the score supports, by its band (facesift.match.policy.VERDICTS),
    and never more: a "possible" score above the threshold is a lead, not support."""

    same_person: bool
    score: float
    fmr: float | None
    band: str
    faces_a: int
    faces_b: int
    bbox_a: tuple[float, float, float, float]
    bbox_b: tuple[float, float, float, float]
    notes: list[str]
    decision: Decision
    verdict: str = ""
    fmr_is_bound: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "same_person": self.same_person,
            "score": round(self.score, 4),
            "fmr": _fmr(self.fmr),
            "fmr_is_bound": self.fmr_is_bound,
            "band": self.band,
            "verdict": self.verdict,
            "faces_a": self.faces_a,
            "faces_b": self.faces_b,
            "bbox_a": _box(self.bbox_a),
            "bbox_b": _box(self.bbox_b),
            "notes": self.notes,
            "decision": self.decision.to_dict(),
        }


@dataclass(frozen=True)
class EnrollOutcome:
    """What happened to one enrolment photo. `status`: enrolled, already_enrolled, no_face,
    ambiguous, conflict (the face is enrolled as someone else) or unreadable."""

    path: str
    person: str
    status: str
    message: str
    face_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status in ("enrolled", "already_enrolled")

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "person": self.person,
            "status": self.status,
            "message": self.message,
            "face_id": self.face_id,
        }


@dataclass
class ScanReport:
    """Totals of a scan; `errors` lists (path, reason) for every file that failed.

    In its JSON each error has a `kind`: "file" when the file cannot be read or decoded (it is
    damaged, or not what its name says), "analysis" when analysing it failed (an exception in
    the engine, out of memory, a worker process that died: the reason is an AnalysisFailure)
    — the file may be fine. Every failed file is tried again by the next scan; a video whose
    analysis failed keeps the faces stored before the failure and is resumed from there.
    """

    files: int = 0
    processed: int = 0
    already_stored: int = 0
    faces: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    tracks: int = 0
    video_seconds: float = 0.0  # seconds of video read
    partial: list[tuple[str, str]] = field(default_factory=list)  # videos read in part, why
    # Every file seen and not analysed (or not wholly), with the reason.
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # Files analysed whose provenance is incomplete (a damaged EXIF block), with what is wrong.
    warnings: list[tuple[str, str]] = field(default_factory=list)
    # Media a Telegram export names but left out (its placeholder, or the file is missing).
    not_included: list[tuple[str, str]] = field(default_factory=list)
    # Web archives read: path, SHA-256, signature block, pages, media kept.
    archives: list[dict[str, Any]] = field(default_factory=list)
    sources: int = 0  # posts and captures newly recorded for stored files

    def to_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "processed": self.processed,
            "already_stored": self.already_stored,
            "faces": self.faces,
            "tracks": self.tracks,
            "video_seconds": round(self.video_seconds, 2),
            "errors": [{"path": p, "reason": r, "kind": _error_kind(r)} for p, r in self.errors],
            "partial": [{"path": p, "reason": r} for p, r in self.partial],
            "skipped": [{"path": p, "reason": r} for p, r in self.skipped],
            "warnings": [{"path": p, "reason": r} for p, r in self.warnings],
            "not_included": [{"media": p, "reason": r} for p, r in self.not_included],
            "archives": self.archives,
            "sources": self.sources,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 2),
        }


def _error_kind(reason: str) -> str:
    return "analysis" if isinstance(reason, AnalysisFailure) else "file"


@dataclass(frozen=True)
class CalibrationStatus:
    """The calibrations a workspace (or case) has, which one is in force, and why.

    `baseline`: the shipped or reference calibration; `own`: the fit on the workspace's own
    different-person pairs, with its sources; each with the score at FMR 1e-2, 1e-3 and 1e-4
    and the interval there. `warnings` are those every result of this scope carries.
    """

    scope: str
    source: str | None
    decision_fmr: float | None
    threshold: float
    baseline: dict[str, Any] | None
    own: dict[str, Any] | None
    population_check: dict[str, Any] | None
    warnings: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "scope": self.scope,
            "active": self.source,
            "decision_fmr": self.decision_fmr,
            "threshold": round(self.threshold, 4),
            "baseline": self.baseline,
            "own": self.own,
            "population_check": self.population_check,
            "warnings": list(self.warnings),
        }


@dataclass(frozen=True)
class ClusteredFace:
    """A face as cluster listings show it: where it is, how good it is, its track."""

    face_id: int
    track_id: int | None
    bbox: tuple[float, float, float, float]
    quality: float
    source: Source
    taken_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "track_id": self.track_id,
            "bbox": _box(self.bbox),
            "quality": round(self.quality, 3),
            "source": {
                "path": self.source.path,
                "sha256": self.source.sha256,
                "frame_index": self.source.frame_index,
                "timestamp": self.source.timestamp,
            }
            | (
                {"media_sources": [m.to_dict() for m in self.source.media_sources]}
                if self.source.media_sources
                else {}
            ),
            "taken_at": None if self.taken_at is None else self.taken_at.isoformat(),
        }


@dataclass(frozen=True)
class ClusterView:
    """One cluster: its faces (by file and frame), the files they are in and when those were
    taken (EXIF times carry no zone: they are ordered as if UTC)."""

    cluster_id: int
    state: str
    locked: bool
    person: str | None
    faces: list[ClusteredFace]

    @property
    def media(self) -> int:
        return len({f.source.sha256 for f in self.faces})

    @property
    def appearances(self) -> int:
        """Photos and video tracks (a track is one appearance however many faces it has)."""
        return len({(f.source.sha256, f.track_id if f.track_id else f.face_id) for f in self.faces})

    @property
    def span(self) -> tuple[datetime | None, datetime | None]:
        times = sorted(
            (f.taken_at for f in self.faces if f.taken_at is not None),
            key=lambda t: t.timestamp() if t.tzinfo else t.replace(tzinfo=UTC).timestamp(),
        )
        return (times[0], times[-1]) if times else (None, None)

    def to_dict(self) -> dict[str, Any]:
        start, end = self.span
        best = sorted(self.faces, key=lambda f: (-f.quality, f.face_id))
        return {
            "cluster_id": self.cluster_id,
            "state": self.state,
            "locked": self.locked,
            "person": self.person,
            "size": len(self.faces),
            "appearances": self.appearances,
            "media": self.media,
            "start": None if start is None else start.isoformat(),
            "end": None if end is None else end.isoformat(),
            "representative_face_id": best[0].face_id if best else None,
            "representative_face_ids": [f.face_id for f in best[:3]],
            "faces": [f.to_dict() for f in self.faces],
        }


@dataclass(frozen=True)
class ClusterListing:
    """A scope's clusters and the unidentified faces in none; for a run, how it was made."""

    case: str | None
    clusters: list[ClusterView]
    unclustered: list[ClusteredFace]
    algorithm: dict[str, Any] | None = None
    elapsed_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "case": self.case,
            "clusters": [c.to_dict() for c in self.clusters],
            "unclustered": [f.to_dict() for f in self.unclustered],
            "algorithm": self.algorithm,
            "elapsed_s": None if self.elapsed_s is None else round(self.elapsed_s, 3),
        }


@dataclass(frozen=True)
class ClusterOperationResult:
    """What an analyst's change did: the recorded operation and the clusters as they are now."""

    operation_id: int
    action: str
    summary: str
    clusters: list[ClusterView]

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation_id": self.operation_id,
            "action": self.action,
            "summary": self.summary,
            "clusters": [c.to_dict() for c in self.clusters],
        }


@dataclass(frozen=True)
class Together:
    """Where a person or cluster appears with the one asked about: the file, and in a video
    the moments (seconds) both are seen within the window."""

    path: str
    sha256: str
    kind: str
    moments: list[float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "sha256": self.sha256,
            "kind": self.kind,
            "moments": [round(m, 3) for m in self.moments],
        }


@dataclass(frozen=True)
class Companion:
    """A person (gallery, or matched at the decision threshold) or cluster seen with another."""

    kind: str  # person or cluster
    name: str
    cluster_id: int | None
    media: list[Together]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "cluster_id": self.cluster_id,
            "count": len(self.media),
            "moments": sum(max(1, len(m.moments)) for m in self.media),
            "media": [m.to_dict() for m in self.media],
        }


@dataclass(frozen=True)
class Cooccurrence:
    """Who appears together with one person or cluster, most often first."""

    subject: str
    case: str | None
    window_s: float
    appearances: int
    companions: list[Companion]
    threshold: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "case": self.case,
            "window_s": self.window_s,
            "appearances": self.appearances,
            "threshold": round(self.threshold, 4),
            "companions": [c.to_dict() for c in self.companions],
        }


@dataclass(frozen=True)
class Appearance:
    """One face or video track of the person, with why it counts (`basis`)."""

    face_id: int
    track_id: int | None
    path: str
    sha256: str
    frame_index: int
    timestamp: float | None
    span: tuple[float, float] | None  # a confirmed track: its first and last second
    basis: str  # "enrolled", "confirmed by NAME (verified)", "cluster 12" …
    taken_at: datetime | None  # EXIF or container time (no zone for EXIF)
    sources: tuple[MediaSource, ...] = ()


@dataclass(frozen=True)
class TimelineEntry:
    """An appearance at the time one of its sources vouches for."""

    when: datetime | None
    when_basis: str | None  # "posted", "captured", "taken (EXIF or container)", or None
    appearance: Appearance
    source: MediaSource | None

    def to_dict(self) -> dict[str, Any]:
        a = self.appearance
        return {
            "when": None if self.when is None else _iso(self.when),
            "when_basis": self.when_basis,
            "face_id": a.face_id,
            "track_id": a.track_id,
            "path": a.path,
            "sha256": a.sha256,
            "frame_index": a.frame_index,
            "timestamp": a.timestamp,
            "span": None if a.span is None else [round(t, 3) for t in a.span],
            "basis": a.basis,
            "source": None if self.source is None else self.source.to_dict(),
        }


@dataclass(frozen=True)
class Timeline:
    target: dict[str, Any]  # {"person": name} or {"cluster": id}
    case: str | None
    appearances: int
    entries: list[TimelineEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "case": self.case,
            "appearances": self.appearances,
            "entries": [e.to_dict() for e in self.entries],
        }


def _iso(moment: datetime) -> str:
    return moment.isoformat() if moment.tzinfo is None else utc_iso(moment) or ""


@dataclass(frozen=True)
class SeenHit:
    """A stored face that resembles the probe's: where and when, and how strongly."""

    face_id: int
    score: float
    fmr: float | None
    band: str
    path: str
    sha256: str
    frame_index: int
    timestamp: float | None
    track_id: int | None
    media_sources: tuple[MediaSource, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "score": round(self.score, 4),
            "fmr": _fmr(self.fmr),
            "band": self.band,
            "path": self.path,
            "sha256": self.sha256,
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "track_id": self.track_id,
            "media_sources": [m.to_dict() for m in self.media_sources],
        }


@dataclass(frozen=True)
class SeenFace:
    """A face of the probe and the stored faces that resemble it, best first."""

    bbox: tuple[float, float, float, float]
    quality: Quality
    sightings: list[SeenHit] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "bbox": _box(self.bbox),
            "quality": _quality(self.quality),
            "sightings": [s.to_dict() for s in self.sightings],
        }


@dataclass(frozen=True)
class SeenBefore:
    """Where else a probe's faces appear among the `stored_faces` faces of the workspace."""

    probe: str
    stored_faces: int
    faces: list[SeenFace]
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe,
            "stored_faces": self.stored_faces,
            "faces": [f.to_dict() for f in self.faces],
            "decision": self.decision.to_dict(),
        }
