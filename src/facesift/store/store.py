"""The store's interface for use cases: transactions over typed values, never database rows.

`Store.transaction(work)` runs `work(tx)` in one transaction and runs it again from the start
when it collided with another writer; `tx` reads and changes stored data by id and hands out
`facesift.store.records` values. Nothing outside `facesift.store` sees SQLAlchemy, so every
change to stored data passes here (where an audit entry can share its transaction).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from facesift.media.sources import MediaSource
from facesift.store import repository as repo
from facesift.store import sources as media_sources
from facesift.store.accounts import Accounts
from facesift.store.audit import AuditLog
from facesift.store.clusters import Clusters
from facesift.store.database import (
    make_sessions,
    open_engine,
    read_setting,
    transaction,
    write_setting,
)
from facesift.store.jobs import Jobs
from facesift.store.records import (
    CaseEntry,
    FaceEntry,
    FaceSeenTogether,
    GalleryChangeEntry,
    MediaEntry,
    ModelKey,
    PersonEntry,
    StoredFace,
    StoredMedia,
    StoredTrack,
)
from facesift.store.reviews import Reviews
from facesift.store.rows import face_row, stored_face
from facesift.store.schema import Face as FaceRow
from facesift.store.schema import Media
from facesift.vision.face import Face

T = TypeVar("T")

# Media whose analysis is complete: never replaced, whoever asks.
COMPLETE = repo.COMPLETE


class Store:
    """One workspace database (a SQLite file, or a PostgreSQL URL for teams)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._engine = open_engine(url)
        self.sessions = make_sessions(self._engine)

    def close(self) -> None:
        self._engine.dispose()

    def transaction(self, work: Callable[[Tx], T]) -> T:
        """`work` in one transaction, retried from the start after a collision with another
        writer: it must read what it decides on through its `tx`."""

        def run(session: Session) -> T:
            AuditLog(session).reserve()
            return work(Tx(session))

        return transaction(self.sessions, run)

    def read(self, work: Callable[[Tx], T]) -> T:
        """`work` over one consistent read (nothing it changes is kept)."""
        with self.sessions() as session:
            return work(Tx(session))


class Tx:
    """Reads and changes within one transaction."""

    def __init__(self, session: Session) -> None:
        self._session = session

    @property
    def clusters(self) -> Clusters:
        """Unknown-person clusters (facesift.store.clusters)."""
        return Clusters(self._session)

    @property
    def audit_log(self) -> AuditLog:
        """The hash-chained audit log (facesift.store.audit)."""
        return AuditLog(self._session)

    def audit(
        self,
        actor: str,
        action: str,
        *,
        objects: dict[str, Any] | None = None,
        inputs: dict[str, Any] | None = None,
        details: dict[str, Any] | None = None,
    ) -> int:
        """Record `action` in the audit log, in this transaction: it commits with the change
        it records, or neither does. Its sequence number."""
        return AuditLog(self._session).append(
            actor, action, objects=objects, inputs=inputs, details=details
        )

    def workspace_id(self) -> str:
        """This store's random, permanent id (made on first use): names its audit log."""
        value = read_setting(self._session, "workspace_id")
        if value is None:
            value = uuid.uuid4().hex
            write_setting(self._session, "workspace_id", value)
        return value

    @property
    def accounts(self) -> Accounts:
        return Accounts(self._session)

    @property
    def reviews(self) -> Reviews:
        return Reviews(self._session)

    @property
    def jobs(self) -> Jobs:
        return Jobs(self._session)

    # ------------------------------------------------------------------------------- media
    def find_media(self, sha256: str) -> StoredMedia | None:
        media = repo.find_media(self._session, sha256)
        return None if media is None else _stored_media(media)

    def media_kind(self, sha256: str) -> tuple[int, str] | None:
        """(id, kind) of a stored file, without reading its faces."""
        row = self._session.execute(
            select(Media.id, Media.kind).where(Media.sha256 == sha256)
        ).first()
        return None if row is None else (row[0], row[1])

    def media_status(self, sha256: str) -> str | None:
        return self._session.scalar(select(Media.status).where(Media.sha256 == sha256))

    def save_image(
        self,
        path: Path,
        sha256: str,
        *,
        format: str | None,
        width: int,
        height: int,
        exif: dict[str, Any],
        analysis: dict[str, Any],
        faces: list[Face],
        model: ModelKey,
    ) -> StoredMedia | None:
        """Store an analysed photo and all its faces (in place of an earlier failed attempt).
        None when another writer completed the same file first: its record is kept."""
        media = repo.begin_media(
            self._session,
            path,
            sha256,
            kind="image",
            format=format,
            width=width,
            height=height,
            exif=exif,
            status="ok",
            analysis=analysis,
        )
        if media is None:
            return None
        media.faces = [face_row(face, model) for face in faces]
        self._session.flush()
        return _stored_media(media)

    def save_failure(self, path: Path, sha256: str, reason: str) -> None:
        """Record why a file could not be analysed (a complete record is never downgraded)."""
        media = repo.find_media(self._session, sha256)
        if media is not None and media.status in COMPLETE:
            return
        if media is None:
            media = repo.new_media(path, sha256)
            self._session.add(media)
        media.status, media.error = "error", reason
        self._session.flush()

    def file_under_case(self, sha256: str, case: str) -> None:
        """File the stored file under `case` (created if new)."""
        media = repo.find_media(self._session, sha256)
        if media is not None:
            repo.link_case(self._session, repo.get_or_create_case(self._session, case), media)

    def file_media_under_case(self, media_id: int, case: str) -> None:
        media = self._session.get(Media, media_id)
        if media is not None:
            repo.link_case(self._session, repo.get_or_create_case(self._session, case), media)

    def add_sources(self, sha256: str, sources: Sequence[MediaSource]) -> list[str]:
        """Record where the stored file was seen (the posts and captures it lacks); the keys
        of those that were new."""
        if not sources:
            return []
        media = self.media_kind(sha256)
        return [] if media is None else media_sources.add_sources(self._session, media[0], sources)

    def sources_of(self, media_ids: Sequence[int]) -> dict[int, list[MediaSource]]:
        """media id → where the file was seen, earliest first."""
        return media_sources.sources_of(self._session, media_ids)

    def sources_stamp(self) -> int:
        """Changes whenever a source is recorded (results that show sources know they are
        stale)."""
        return media_sources.sources_stamp(self._session)

    def sources_by_sha256(self, sha256s: Sequence[str]) -> dict[str, list[MediaSource]]:
        """sha256 → where the stored file was seen, earliest first."""
        return media_sources.sources_by_sha256(self._session, sha256s)

    def name_upload(self, sha256: str, name: str, actor: str) -> None:
        """Remember a name a kept upload was sent under (once per name)."""
        repo.name_upload(self._session, sha256, name, actor)

    def upload_names(self, sha256s: Sequence[str]) -> dict[str, list[str]]:
        """sha256 → the names the file was uploaded under, first first."""
        return repo.upload_names(self._session, sha256s)

    def media_metadata(self, sha256s: Sequence[str]) -> dict[str, tuple[int, dict[str, Any]]]:
        """sha256 → (size in bytes, EXIF or container metadata) of stored files."""
        return repo.media_metadata(self._session, sha256s)

    def case_media_count(self, case: str | None) -> int:
        """How many files are filed under a case (all stored files for None)."""
        return repo.case_media_count(self._session, case)

    def case_exists(self, name: str) -> bool:
        return repo.case_exists(self._session, name)

    # ----------------------------------------------------------------------------- gallery
    def enroll_face(self, face_id: int, person: str, attributes: dict[str, Any] | None) -> None:
        """Enrol a stored face as `person` (created with their first face; `attributes` are
        merged into theirs) and mark the gallery changed."""
        face = self._face(face_id)
        face.person_id = repo.get_or_create_person(self._session, person, attributes).id
        repo.bump_gallery_version(self._session)

    def people_named(self, name: str) -> bool:
        return repo.person_by_name(self._session, name) is not None

    def update_person(self, person: str, attributes: dict[str, Any]) -> None:
        """Merge `attributes` into an existing person's."""
        repo.get_or_create_person(self._session, person, attributes)

    def set_low_res_template(self, face_id: int, template: np.ndarray) -> None:
        """Give a face its low-resolution template (see `mark_gallery_changed`)."""
        self._face(face_id).low_res_embedding = repo.encode_vector(template)

    def mark_gallery_changed(self) -> None:
        """Mark the gallery changed, so derived indexes know they are stale."""
        repo.bump_gallery_version(self._session)

    def remove_person(self, name: str, actor: str, note: str | None) -> list[int] | None:
        return repo.remove_person(self._session, name, actor, note)

    def unenroll_face(self, face_id: int, actor: str, note: str | None) -> str | None:
        return repo.unenroll_face(self._session, face_id, actor, note)

    def gallery_changes(self) -> list[GalleryChangeEntry]:
        return [
            GalleryChangeEntry(c.at, c.actor, c.action, c.person, list(c.face_ids), c.note)
            for c in repo.gallery_changes(self._session)
        ]

    def gallery_version(self) -> int:
        return repo.gallery_version(self._session)

    def gallery_vectors(
        self, model: ModelKey, low_res: bool = False
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(face ids, person ids, n×d vectors) of the enrolled faces made by `model`."""
        return repo.gallery_vectors(self._session, model.name, model.sha256, low_res)

    def people_by_id(self, ids: Sequence[int]) -> dict[int, PersonEntry]:
        if not ids:
            return {}
        return {
            p.id: PersonEntry(p.id, p.name, n, dict(p.attributes or {}))
            for p, n in repo.list_people(self._session, ids)
        }

    # ------------------------------------------------------------------ faces and tracks
    def unenrolled_faces(self, case: str | None, model: ModelKey) -> list[StoredFace]:
        """Photo faces (not in a video track) not enrolled, made by `model`, of one case or all."""
        return [
            stored_face(r)
            for r in repo.unenrolled_faces(self._session, case)
            if r.model_sha256 == model.sha256 and r.track_id is None
        ]

    def video_tracks(
        self, case: str | None, model: ModelKey | None, ids: Sequence[int] | None = None
    ) -> list[StoredTrack]:
        """The tracks of a case's videos (or all; or those of `ids`) made by `model` (or any)."""
        return [
            StoredTrack(
                id=t.id,
                number=t.number,
                start=t.start,
                end=t.end,
                start_frame=t.start_frame,
                end_frame=t.end_frame,
                face_count=t.face_count,
                template=repo.decode_vector(t.template),
                model=ModelKey(t.model_name, t.model_sha256),
                path=t.media.path,
                sha256=t.media.sha256,
                best_face=None if t.best_face is None else stored_face(t.best_face),
            )
            for t in repo.video_tracks(self._session, case, ids)
            if model is None or t.model_sha256 == model.sha256
        ]

    def best_shot_ids(self, track_ids: Sequence[int]) -> dict[int, list[int]]:
        return repo.best_shot_ids(self._session, track_ids)

    def stored_face(self, face_id: int) -> StoredFace | None:
        row = self._session.get(FaceRow, face_id)
        return None if row is None else stored_face(row)

    def face_crop(self, face_id: int) -> bytes | None:
        return repo.face_crop(self._session, face_id)

    def frame_faces(self, media_id: int, frame_index: int) -> list[StoredFace]:
        return [
            stored_face(f, with_track=True)
            for f in repo.frame_faces(self._session, media_id, frame_index)
        ]

    def faces_stamp(self) -> tuple[int, int, int]:
        return repo.faces_stamp(self._session)

    def faces_seen_together(self, model: ModelKey, case: str | None) -> list[FaceSeenTogether]:
        return [
            FaceSeenTogether(*row)
            for row in repo.faces_seen_together(self._session, model.sha256, case)
        ]

    def track_templates(self, track_ids: Sequence[int]) -> dict[int, np.ndarray]:
        return repo.track_templates(self._session, track_ids)

    # ---------------------------------------------------------------------------- listings
    def people(self) -> list[PersonEntry]:
        return [
            PersonEntry(p.id, p.name, n, p.attributes or {})
            for p, n in repo.list_people(self._session)
        ]

    def first_faces(self) -> dict[str, int]:
        """Each gallery person's first enrolled face id, by name."""
        return repo.first_faces(self._session)

    def cases(self) -> list[CaseEntry]:
        return [
            CaseEntry(c.name, c.created_at, media, faces)
            for c, media, faces in repo.list_cases(self._session)
        ]

    def create_case(self, name: str) -> bool:
        """Make an empty case; False when it exists."""
        if repo.case_exists(self._session, name):
            return False
        repo.get_or_create_case(self._session, name)
        return True

    def media(
        self, case: str | None = None, limit: int | None = None, offset: int = 0
    ) -> list[MediaEntry]:
        return [
            MediaEntry(
                id=m.id,
                path=m.path,
                link_target=m.link_target,
                sha256=m.sha256,
                size=m.size,
                kind=m.kind,
                format=m.format,
                width=m.width,
                height=m.height,
                faces=n,
                status=m.status,
                error=m.error,
                scanned_at=m.scanned_at,
            )
            for m, n in repo.list_media(self._session, case, limit, offset)
        ]

    def faces(
        self,
        person: str | None = None,
        case: str | None = None,
        limit: int | None = None,
        offset: int = 0,
    ) -> list[FaceEntry]:
        return [
            FaceEntry(
                id=f.id,
                path=f.media.path,
                sha256=f.media.sha256,
                frame_index=f.frame_index,
                timestamp=f.timestamp,
                track_id=f.track_id,
                bbox=f.bbox,
                det_score=f.det_score,
                quality=f.quality,
                face_px=f.face_px,
                person=f.person.name if f.person else None,
                model=f.model_name,
            )
            for f in repo.list_faces(self._session, person, case, limit, offset)
        ]

    def _face(self, face_id: int) -> FaceRow:
        face = self._session.get(FaceRow, face_id)
        if face is None:
            raise LookupError(f"no face {face_id}")
        return face


def _stored_media(media: Media) -> StoredMedia:
    return StoredMedia(
        id=media.id,
        sha256=media.sha256,
        path=media.path,
        kind=media.kind,
        status=media.status,
        width=media.width,
        height=media.height,
        faces=[stored_face(f, with_template_flag=True) for f in media.faces],
    )
