"""The database schema: the single source of truth for people, media, faces and cases.

Portable SQL only (SQLite by default, PostgreSQL for teams). Embeddings are stored as raw
float32 bytes with the name and weights hash of the model that made them, so vectors from
different models are never compared.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

# 2: video tracks, face crops, low-resolution templates; 3: link targets; 4: accounts and the
# audit log (releases that would change data without an audit entry refuse the store).
SCHEMA_VERSION = 4


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


case_media = Table(
    "case_media",
    Base.metadata,
    Column("case_id", ForeignKey("cases.id", ondelete="CASCADE"), primary_key=True),
    Column("media_id", ForeignKey("media.id", ondelete="CASCADE"), primary_key=True),
)


class Setting(Base):
    """Key/value facts about the store itself (schema version, …)."""

    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class Person(Base):
    """A known person of the gallery; `attributes` holds free metadata (rank, unit, source…)."""

    __tablename__ = "people"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    faces: Mapped[list[Face]] = relationship(back_populates="person")


class GalleryChange(Base):
    """A correction of the gallery (a person removed, a face unenrolled): who, when, what."""

    __tablename__ = "gallery_changes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    person: Mapped[str] = mapped_column(String(255))
    face_ids: Mapped[list[Any]] = mapped_column(default=list)
    note: Mapped[str | None] = mapped_column(Text)


class Case(Base):
    """A named investigation grouping the media scanned for it."""

    __tablename__ = "cases"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    media: Mapped[list[Media]] = relationship(secondary=case_media, back_populates="cases")


class Media(Base):
    """A file, identified by its SHA-256: stored once however often it is met.

    `status` is "ok" once all its faces are stored, "error" (with `error`) when it could not be
    decoded; an errored file is tried again by the next scan. A video is "scanning" while its
    faces are being stored (a rerun resumes it), and "partial" when its stream broke off:
    what could be decoded is stored and `error` says what went wrong. For a video `exif`
    holds the container's description and metadata.
    """

    __tablename__ = "media"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(Text)  # absolute, where it was found (links not followed)
    link_target: Mapped[str | None] = mapped_column(Text)  # the file a symbolic link points to
    size: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(16), default="image")
    format: Mapped[str | None] = mapped_column(String(32))
    width: Mapped[int | None] = mapped_column(Integer)
    height: Mapped[int | None] = mapped_column(Integer)
    exif: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(16), default="ok")
    error: Mapped[str | None] = mapped_column(Text)
    analysis: Mapped[dict[str, Any]] = mapped_column(default=dict)
    scanned_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    faces: Mapped[list[Face]] = relationship(
        back_populates="media", cascade="all, delete-orphan", order_by="Face.id"
    )
    tracks: Mapped[list[Track]] = relationship(
        back_populates="media", cascade="all, delete-orphan", order_by="Track.number"
    )
    cases: Mapped[list[Case]] = relationship(secondary=case_media, back_populates="media")


class Face(Base):
    """A detected face with its provenance; `person_id` is set when it is enrolled."""

    __tablename__ = "faces"
    __table_args__ = (
        Index("ix_faces_person", "person_id"),
        Index("ix_faces_media", "media_id"),
        UniqueConstraint("media_id", "frame_index", "x1", "y1", "x2", "y2", name="uq_face_box"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id", ondelete="SET NULL"))
    frame_index: Mapped[int] = mapped_column(Integer, default=0)
    timestamp: Mapped[float | None] = mapped_column(Float)
    x1: Mapped[float] = mapped_column(Float)
    y1: Mapped[float] = mapped_column(Float)
    x2: Mapped[float] = mapped_column(Float)
    y2: Mapped[float] = mapped_column(Float)
    landmarks: Mapped[list[Any]] = mapped_column(default=list)
    det_score: Mapped[float] = mapped_column(Float)
    detector: Mapped[str] = mapped_column(String(64))
    face_px: Mapped[float] = mapped_column(Float)
    sharpness: Mapped[float] = mapped_column(Float)
    quality: Mapped[float] = mapped_column(Float)
    embedding: Mapped[bytes] = mapped_column(LargeBinary)
    model_name: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    # JPEG of the aligned face chip, kept for the best shots of each video track.
    crop: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    # Enrolled faces: the low-resolution template that small probe faces are matched against.
    low_res_embedding: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    media: Mapped[Media] = relationship(back_populates="faces")
    person: Mapped[Person | None] = relationship(back_populates="faces")
    track: Mapped[Track | None] = relationship(back_populates="faces", foreign_keys=[track_id])

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        return (self.x1, self.y1, self.x2, self.y2)


class Track(Base):
    """One person's continuous appearance in a video: its faces, span and template.

    `number` counts tracks within the video; `template` is the embedding the track is matched
    by (the mean of its best faces'), made by `model_name`; `best_face_id` is its best shot.
    """

    __tablename__ = "tracks"
    __table_args__ = (UniqueConstraint("media_id", "number", name="uq_track_number"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    start_frame: Mapped[int] = mapped_column(Integer)
    end_frame: Mapped[int] = mapped_column(Integer)
    face_count: Mapped[int] = mapped_column(Integer)
    best_face_id: Mapped[int | None] = mapped_column(
        ForeignKey("faces.id", ondelete="SET NULL", use_alter=True)
    )
    template: Mapped[bytes] = mapped_column(LargeBinary)
    model_name: Mapped[str] = mapped_column(String(128))
    model_sha256: Mapped[str] = mapped_column(String(64))
    media: Mapped[Media] = relationship(back_populates="tracks")
    faces: Mapped[list[Face]] = relationship(
        back_populates="track", foreign_keys="Face.track_id", order_by="Face.frame_index"
    )
    best_face: Mapped[Face | None] = relationship(foreign_keys=[best_face_id], post_update=True)


class Cluster(Base):
    """An unknown person: faces grouped by `cluster`, or by an analyst.

    `scope` is the case the clustering covers (its id; 0: the whole workspace). `state` is
    "open", "named" (its faces were enrolled as `person_id`), "ignored" or "not_a_face".
    `locked`: an analyst touched it (merged, split, named, marked), so automatic clustering
    never merges it with another locked cluster nor takes faces out of it.
    """

    __tablename__ = "clusters"
    __table_args__ = (Index("ix_clusters_scope", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="open")
    locked: Mapped[bool] = mapped_column(default=False)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ClusterFace(Base):
    """A face's cluster within one scope (a face is in at most one cluster per scope)."""

    __tablename__ = "cluster_faces"
    __table_args__ = (Index("ix_cluster_faces_cluster", "cluster_id"),)
    scope: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int] = mapped_column(
        ForeignKey("faces.id", ondelete="CASCADE"), primary_key=True
    )
    cluster_id: Mapped[int] = mapped_column(ForeignKey("clusters.id", ondelete="CASCADE"))


class ClusterOperation(Base):
    """One change of the clusters (a clustering run, a merge, a split …): who, when, what.

    `before` and `after` hold the state of the clusters and faces it changed, so that it can be
    undone exactly; `undone_by` is the operation that undid it.
    """

    __tablename__ = "cluster_operations"
    __table_args__ = (Index("ix_cluster_operations_scope", "scope"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    scope: Mapped[int] = mapped_column(Integer)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(32))
    summary: Mapped[str] = mapped_column(Text)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    before: Mapped[dict[str, Any]] = mapped_column(default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(default=dict)
    undone_by: Mapped[int | None] = mapped_column(Integer)


class User(Base):
    """An account: `role` is "viewer", "analyst" or "admin"; `password_hash` is Argon2id.
    Accounts are disabled, never deleted: the audit log names them."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    role: Mapped[str] = mapped_column(String(16))
    password_hash: Mapped[str] = mapped_column(Text)
    disabled: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class ApiToken(Base):
    """A bearer token handed out at login, stored as its SHA-256 (the token itself is
    random and shown once); it stops working when it expires or is revoked."""

    __tablename__ = "api_tokens"
    __table_args__ = (Index("ix_api_tokens_user", "user_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class AuditRow(Base):
    """One entry of the append-only, hash-chained audit log (facesift.store.audit).

    Everything hashed is stored as the text that was hashed (UTC time in ISO form, canonical
    JSON), so that the chain can be recomputed from the rows alone, on any database."""

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_actor", "actor"),
        Index("ix_audit_log_action", "action"),
    )
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    at: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(255))
    action: Mapped[str] = mapped_column(String(64))
    objects: Mapped[str] = mapped_column(Text)
    inputs: Mapped[str] = mapped_column(Text)
    details: Mapped[str] = mapped_column(Text)
    prev_hash: Mapped[str] = mapped_column(String(64))
    entry_hash: Mapped[str] = mapped_column(String(64))


class ReviewDecision(Base):
    """A reviewer's conclusion about a face (or a video track) and a candidate person.

    `verdict` is "confirm", "reject" or "inconclusive"; `shown` is a frozen copy of what the
    reviewer was shown (score, FMR, band, rank, threshold, calibration, model). The person's
    name is kept as well as the id: people can leave the gallery, decisions stay."""

    __tablename__ = "review_decisions"
    __table_args__ = (
        Index("ix_review_decisions_face", "face_id"),
        Index("ix_review_decisions_track", "track_id"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    face_id: Mapped[int | None] = mapped_column(ForeignKey("faces.id"))
    track_id: Mapped[int | None] = mapped_column(ForeignKey("tracks.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="SET NULL"))
    person: Mapped[str] = mapped_column(String(255))
    verdict: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    shown: Mapped[dict[str, Any]] = mapped_column(default=dict)


class ReviewCheck(Base):
    """A second reviewer's check of a decision: "verified" or "disputed" (two-person rule)."""

    __tablename__ = "review_checks"
    __table_args__ = (Index("ix_review_checks_decision", "decision_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("review_decisions.id"))
    outcome: Mapped[str] = mapped_column(String(16))
    note: Mapped[str | None] = mapped_column(Text)
    reviewer: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Job(Base):
    """Long work started through the API (a scan), run in the background: its progress and
    outcome, kept after it ends."""

    __tablename__ = "jobs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="queued")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class MediaSourceRow(Base):
    """One place a stored file was seen: a Telegram post, a web archive's response
    (facesift.media.sources.MediaSource). A file met in two posts has two rows, told apart by
    `key`; the same post scanned again adds none."""

    __tablename__ = "media_sources"
    __table_args__ = (
        UniqueConstraint("media_id", "key", name="uq_media_source_key"),
        Index("ix_media_sources_posted", "posted_at"),
    )
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    media_id: Mapped[int] = mapped_column(ForeignKey("media.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(512))
    url: Mapped[str | None] = mapped_column(Text)
    page_url: Mapped[str | None] = mapped_column(Text)
    channel: Mapped[str | None] = mapped_column(Text)
    channel_id: Mapped[str | None] = mapped_column(String(64))
    channel_type: Mapped[str | None] = mapped_column(String(32))
    post_id: Mapped[str | None] = mapped_column(String(64))
    posted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    edited_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    captured_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    author: Mapped[str | None] = mapped_column(Text)
    author_id: Mapped[str | None] = mapped_column(String(64))
    forwarded_from: Mapped[str | None] = mapped_column(Text)
    text: Mapped[str | None] = mapped_column(Text)
    archive: Mapped[str | None] = mapped_column(Text)
    archive_sha256: Mapped[str | None] = mapped_column(String(64))
    member: Mapped[str | None] = mapped_column(Text)
    record_id: Mapped[str | None] = mapped_column(String(128))
    signed: Mapped[bool | None] = mapped_column()
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class UploadName(Base):
    """A name a file was uploaded under (files are kept by content; their names are what
    people know them by)."""

    __tablename__ = "upload_names"
    __table_args__ = (Index("ix_upload_names_sha256", "sha256"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(Text)
    actor: Mapped[str] = mapped_column(String(255))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
