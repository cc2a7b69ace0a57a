"""What the store hands out: plain, typed values, never database rows.

A use case reads these and asks the store for changes by id, so that every change to stored
data passes through `facesift.store` (where an audit entry can join its transaction). The
listing entries' `to_dict()` is the stable JSON of `facesift people|media|faces --json`
(fields are only ever added).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np

from facesift.vision.face import Face


def _utc(moment: datetime) -> str:
    """A stored time in ISO form with its zone: SQLite hands stored UTC times back without
    one, PostgreSQL with it; both mean UTC."""
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).isoformat()


def _box(bbox: tuple[float, float, float, float]) -> list[float]:
    return [round(v, 1) for v in bbox]


@dataclass(frozen=True)
class ModelKey:
    """The embedder that made a vector: vectors of different models are never compared."""

    name: str
    sha256: str


@dataclass(frozen=True, eq=False)
class StoredFace:
    """A stored face: the vision layer's `Face` (embedding, box, quality) and where it is."""

    id: int
    media_id: int
    face: Face
    frame_index: int
    timestamp: float | None
    model: ModelKey
    path: str  # the file it was found in, and that file's content hash
    sha256: str
    track_id: int | None = None
    track: int | None = None  # the track's number within its video
    person_id: int | None = None
    person: str | None = None
    has_low_res_template: bool | None = None  # None: not read (an enrolled face's template)


@dataclass(frozen=True, eq=False)
class StoredMedia:
    """A stored file (by content) and its faces."""

    id: int
    sha256: str
    path: str
    kind: str
    status: str
    width: int | None
    height: int | None
    faces: list[StoredFace]


@dataclass(frozen=True, eq=False)
class StoredTrack:
    """A stored video track: span, template and best shot."""

    id: int
    number: int
    start: float
    end: float
    start_frame: int
    end_frame: int
    face_count: int
    template: np.ndarray
    model: ModelKey
    path: str
    sha256: str
    best_face: StoredFace | None


@dataclass(frozen=True)
class PersonEntry:
    """A person of the gallery and how many faces are enrolled for them."""

    id: int
    name: str
    faces: int
    attributes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "faces": self.faces,
            "attributes": self.attributes,
        }


@dataclass(frozen=True)
class MediaEntry:
    """A stored file as listed: where it was found, what it is, how its analysis went."""

    id: int
    path: str
    link_target: str | None
    sha256: str
    size: int
    kind: str
    format: str | None
    width: int | None
    height: int | None
    faces: int
    status: str
    error: str | None
    scanned_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "link_target": self.link_target,
            "sha256": self.sha256,
            "size": self.size,
            "kind": self.kind,
            "format": self.format,
            "width": self.width,
            "height": self.height,
            "faces": self.faces,
            "status": self.status,
            "error": self.error,
            "scanned_at": _utc(self.scanned_at),
        }


@dataclass(frozen=True)
class FaceEntry:
    """A stored face as listed, with its provenance (file, frame, model)."""

    id: int
    path: str
    sha256: str
    frame_index: int
    timestamp: float | None
    track_id: int | None
    bbox: tuple[float, float, float, float]
    det_score: float
    quality: float
    face_px: float
    person: str | None
    model: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "path": self.path,
            "sha256": self.sha256,
            "frame_index": self.frame_index,
            "timestamp": self.timestamp,
            "track_id": self.track_id,
            "bbox": _box(self.bbox),
            "det_score": round(self.det_score, 3),
            "quality": round(self.quality, 3),
            "face_px": round(self.face_px, 1),
            "person": self.person,
            "model": self.model,
        }


@dataclass(frozen=True)
class GalleryChangeEntry:
    """A correction of the gallery: when, who, what."""

    at: datetime
    actor: str
    action: str
    person: str
    face_ids: list[int]
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _utc(self.at),
            "actor": self.actor,
            "action": self.action,
            "person": self.person,
            "face_ids": list(self.face_ids),
            "note": self.note,
        }


@dataclass(frozen=True)
class FaceSeenTogether:
    """A face that shares its photo or video frame with another (calibration's impostors)."""

    face_id: int
    media_id: int
    frame_index: int
    track_id: int | None
    bbox: tuple[float, float, float, float]
    embedding: np.ndarray


@dataclass(frozen=True)
class ClusterEntry:
    """A stored cluster: its state and the ids of its faces."""

    id: int
    scope: int
    state: str  # open, named, ignored, not_a_face
    locked: bool  # an analyst touched it
    person_id: int | None
    person: str | None
    face_ids: tuple[int, ...]


@dataclass(frozen=True)
class ClusterOperationEntry:
    """One recorded change of the clusters."""

    id: int
    at: datetime
    actor: str
    action: str
    summary: str
    details: dict[str, Any]
    undone_by: int | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "operation_id": self.id,
            "at": _utc(self.at),
            "actor": self.actor,
            "action": self.action,
            "summary": self.summary,
            "details": self.details,
            "undone_by": self.undone_by,
        }


@dataclass(frozen=True, eq=False)
class Sighting:
    """Where one face was seen, who it is when enrolled, and its vector: what clustering and
    co-occurrence read for every face of a case, without the rest of a stored face."""

    id: int
    media_id: int
    path: str
    sha256: str
    kind: str
    frame_index: int
    timestamp: float | None
    track_id: int | None
    person_id: int | None
    person: str | None
    bbox: tuple[float, float, float, float]
    quality: float
    face_px: float
    embedding: np.ndarray


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    role: str
    disabled: bool
    created_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "disabled": self.disabled,
            "created_at": _utc(self.created_at),
        }


@dataclass(frozen=True)
class AuditEntry:
    """One entry as stored; `objects`, `inputs` and `details` are its decoded JSON."""

    seq: int
    at: str
    actor: str
    action: str
    objects: dict[str, Any]
    inputs: dict[str, Any]
    details: dict[str, Any]
    prev_hash: str
    entry_hash: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "at": self.at,
            "actor": self.actor,
            "action": self.action,
            "objects": self.objects,
            "inputs": self.inputs,
            "details": self.details,
            "prev_hash": self.prev_hash,
            "entry_hash": self.entry_hash,
        }


@dataclass(frozen=True)
class CheckEntry:
    """A second reviewer's "verified" or "disputed" on a decision."""

    id: int
    outcome: str
    reviewer: str
    at: datetime
    note: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "outcome": self.outcome,
            "reviewer": self.reviewer,
            "at": _utc(self.at),
            "note": self.note,
        }


@dataclass(frozen=True)
class DecisionEntry:
    """A reviewer's decision with what they were shown and the checks made of it since."""

    id: int
    face_id: int | None
    track_id: int | None
    person: str
    verdict: str
    reviewer: str
    at: datetime
    note: str | None
    shown: dict[str, Any]
    checks: list[CheckEntry] = field(default_factory=list)

    @property
    def status(self) -> str:
        """ "verified" (a second person agreed and nobody disputed), "disputed", or
        "unverified" (nobody else has looked at it yet)."""
        outcomes = {c.outcome for c in self.checks}
        if "disputed" in outcomes:
            return "disputed"
        return "verified" if "verified" in outcomes else "unverified"

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "face_id": self.face_id,
            "track_id": self.track_id,
            "person": self.person,
            "verdict": self.verdict,
            "reviewer": self.reviewer,
            "at": _utc(self.at),
            "note": self.note,
            "status": self.status,
            "checks": [c.to_dict() for c in self.checks],
            "shown": self.shown,
        }


@dataclass(frozen=True)
class JobEntry:
    id: int
    kind: str
    actor: str
    status: str
    params: dict[str, Any]
    done: int
    total: int
    result: dict[str, Any] | None
    error: str | None
    created_at: datetime
    finished_at: datetime | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "kind": self.kind,
            "actor": self.actor,
            "status": self.status,
            "params": self.params,
            "progress": {"done": self.done, "total": self.total},
            "result": self.result,
            "error": self.error,
            "created_at": _utc(self.created_at),
            "finished_at": None if self.finished_at is None else _utc(self.finished_at),
        }


@dataclass(frozen=True)
class CaseEntry:
    """A case with how much it holds."""

    name: str
    created_at: datetime
    media: int
    faces: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "created_at": _utc(self.created_at),
            "media": self.media,
            "faces": self.faces,
        }
