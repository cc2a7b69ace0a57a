"""Queries and writes that the workflows need, in one place; sessions are the caller's."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from sqlalchemy import Select, func, insert, select
from sqlalchemy.orm import Session, selectinload

from facesift.store.database import read_setting, write_setting
from facesift.store.schema import (
    Case,
    Face,
    GalleryChange,
    Media,
    Person,
    Track,
    UploadName,
    case_media,
)

GALLERY_VERSION_KEY = "gallery_version"
QueryT = TypeVar("QueryT", bound=Select)


def encode_vector(vector: np.ndarray) -> bytes:
    return np.asarray(vector, dtype="<f4").tobytes()


def decode_vector(blob: bytes) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32)


def find_media(session: Session, sha256: str, lock: bool = False) -> Media | None:
    """The record of a file by content; `lock`: held until the transaction ends, so that
    two processes never both claim it (PostgreSQL; SQLite serialises writers anyway)."""
    query = select(Media).where(Media.sha256 == sha256).options(selectinload(Media.faces))
    return session.scalar(query.with_for_update() if lock else query)


# Media whose analysis is complete: never replaced, whoever asks.
COMPLETE = ("ok", "partial")


def begin_media(session: Session, path: Path, sha256: str, **fields: Any) -> Media | None:
    """The record to store a file's analysis in: new, or an earlier failed or interrupted
    attempt reset in place (its faces and tracks dropped; its case links kept). None when
    the file's analysis is already complete — another writer finished first: keep theirs."""
    media = find_media(session, sha256)
    if media is not None and media.status in COMPLETE:
        return None
    if media is None:
        media = new_media(path, sha256)
        session.add(media)
    else:
        media.faces = []
        media.tracks = []
        media.error = None
        session.flush()
    for key, value in fields.items():
        setattr(media, key, value)
    session.flush()  # a concurrent insert of the same file fails here, and is retried
    return media


def new_media(path: Path, sha256: str) -> Media:
    """A record of the file as found: its absolute path (a symbolic link is not followed, so
    the record says where the evidence was seen) and, for a link, what it points to."""
    found = path.absolute()
    target = path.resolve()
    return Media(
        sha256=sha256,
        path=str(found),
        link_target=str(target) if target != found else None,
        size=path.stat().st_size,
    )


def person_by_name(session: Session, name: str) -> Person | None:
    return session.scalar(select(Person).where(Person.name == name))


def get_or_create_person(
    session: Session, name: str, attributes: dict[str, Any] | None = None
) -> Person:
    """The person called `name`, created if new; `attributes` are merged into theirs."""
    person = person_by_name(session, name)
    if person is None:
        person = Person(name=name, attributes={})
        session.add(person)
    if attributes:
        person.attributes = {**(person.attributes or {}), **attributes}
    session.flush()
    return person


def get_or_create_case(session: Session, name: str) -> Case:
    case = session.scalar(select(Case).where(Case.name == name))
    if case is None:
        case = Case(name=name)
        session.add(case)
        session.flush()
    return case


def link_case(session: Session, case: Case | None, media: Media) -> None:
    """File `media` under `case` (once), without reading the case's other media: a case
    holds tens of thousands of files."""
    if case is None:
        return
    if media.id is None:
        session.flush()
    linked = session.scalar(
        select(func.count())
        .select_from(case_media)
        .where(case_media.c.case_id == case.id, case_media.c.media_id == media.id)
    )
    if not linked:
        session.execute(insert(case_media).values(case_id=case.id, media_id=media.id))


def gallery_version(session: Session) -> int:
    return int(read_setting(session, GALLERY_VERSION_KEY, "0") or 0)


def bump_gallery_version(session: Session) -> int:
    """Mark the gallery changed, so derived indexes know they are stale."""
    version = gallery_version(session) + 1
    write_setting(session, GALLERY_VERSION_KEY, str(version))
    return version


def gallery_vectors(
    session: Session, model_name: str, model_sha256: str, low_res: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(face ids, person ids, n×d embeddings) of all enrolled faces made by one model.

    With `low_res`, their low-resolution templates (the embedding where a face has none).
    """
    column = func.coalesce(Face.low_res_embedding, Face.embedding) if low_res else Face.embedding
    rows = session.execute(
        select(Face.id, Face.person_id, column)
        .where(
            Face.person_id.is_not(None),
            Face.model_name == model_name,
            Face.model_sha256 == model_sha256,
        )
        .order_by(Face.id)
    ).all()
    if not rows:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[1] for r in rows], dtype=np.int64),
        np.stack([decode_vector(r[2]) for r in rows]),
    )


def in_case(query: QueryT, case_name: str) -> QueryT:
    """`query` (which selects from media) narrowed to the media filed under one case."""
    return (
        query.join(case_media, case_media.c.media_id == Media.id)
        .join(Case, Case.id == case_media.c.case_id)
        .where(Case.name == case_name)
    )


def unenrolled_faces(session: Session, case_name: str | None = None) -> list[Face]:
    """Faces of scanned media (optionally of one case) that are not enrolled gallery faces."""
    query = (
        select(Face)
        .join(Media, Face.media_id == Media.id)
        .where(Face.person_id.is_(None))
        .options(selectinload(Face.media))
        .order_by(Media.path, Face.frame_index, Face.id)
    )
    if case_name is not None:
        query = in_case(query, case_name)
    return list(session.scalars(query))


def name_upload(session: Session, sha256: str, name: str, actor: str) -> None:
    known = session.scalar(
        select(func.count(UploadName.id)).where(
            UploadName.sha256 == sha256, UploadName.name == name
        )
    )
    if not known:
        session.add(UploadName(sha256=sha256, name=name, actor=actor))


def upload_names(session: Session, sha256s: Sequence[str]) -> dict[str, list[str]]:
    wanted = list(dict.fromkeys(sha256s))
    out: dict[str, list[str]] = {}
    for at in range(0, len(wanted), 500):
        query = (
            select(UploadName.sha256, UploadName.name)
            .where(UploadName.sha256.in_(wanted[at : at + 500]))
            .order_by(UploadName.id)
        )
        for sha, name in session.execute(query):
            out.setdefault(sha, []).append(name)
    return out


def media_metadata(
    session: Session, sha256s: Sequence[str]
) -> dict[str, tuple[int, dict[str, Any]]]:
    wanted = list(dict.fromkeys(sha256s))
    out: dict[str, tuple[int, dict[str, Any]]] = {}
    for at in range(0, len(wanted), 500):
        query = select(Media.sha256, Media.size, Media.exif).where(
            Media.sha256.in_(wanted[at : at + 500])
        )
        out |= {row[0]: (int(row[1] or 0), dict(row[2] or {})) for row in session.execute(query)}
    return out


def case_media_count(session: Session, case_name: str | None) -> int:
    query = select(func.count(Media.id))
    if case_name is not None:
        query = in_case(query, case_name)
    return int(session.scalar(query) or 0)


def case_exists(session: Session, name: str) -> bool:
    return bool(session.scalar(select(func.count(Case.id)).where(Case.name == name)))


def list_people(session: Session, ids: Sequence[int] | None = None) -> list[tuple[Person, int]]:
    """People (all, or those with `ids`) and how many faces each has enrolled, by name."""
    query = (
        select(Person, func.count(Face.id))
        .outerjoin(Face, Face.person_id == Person.id)
        .group_by(Person.id)
        .order_by(Person.name)
    )
    if ids is not None:
        query = query.where(Person.id.in_(list(ids)))
    return [(person, count) for person, count in session.execute(query)]


def list_media(
    session: Session,
    case_name: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[tuple[Media, int]]:
    query = (
        select(Media, func.count(Face.id))
        .outerjoin(Face, Face.media_id == Media.id)
        .group_by(Media.id)
        .order_by(Media.path, Media.id)
    )
    if case_name is not None:
        query = in_case(query, case_name)
    query = query.offset(offset).limit(limit)
    return [(media, count) for media, count in session.execute(query)]


def list_faces(
    session: Session,
    person_name: str | None = None,
    case_name: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[Face]:
    query = (
        select(Face)
        .join(Media, Face.media_id == Media.id)
        .options(selectinload(Face.media), selectinload(Face.person))
        .order_by(Media.path, Face.frame_index, Face.id)
    )
    if person_name is not None:
        query = query.join(Person, Person.id == Face.person_id).where(Person.name == person_name)
    if case_name is not None:
        query = in_case(query, case_name)
    return list(session.scalars(query.offset(offset).limit(limit)))


def first_faces(session: Session) -> dict[str, int]:
    """Each gallery person's first enrolled face (their picture in listings)."""
    query = (
        select(Person.name, func.min(Face.id))
        .join(Face, Face.person_id == Person.id)
        .group_by(Person.name)
    )
    return {str(row[0]): int(row[1]) for row in session.execute(query)}


def list_cases(session: Session) -> list[tuple[Case, int, int]]:
    """Every case with its number of media and of faces."""
    media = (
        select(case_media.c.case_id, func.count(case_media.c.media_id).label("n"))
        .group_by(case_media.c.case_id)
        .subquery()
    )
    faces = (
        select(case_media.c.case_id, func.count(Face.id).label("n"))
        .join(Face, Face.media_id == case_media.c.media_id)
        .group_by(case_media.c.case_id)
        .subquery()
    )
    query = (
        select(Case, func.coalesce(media.c.n, 0), func.coalesce(faces.c.n, 0))
        .outerjoin(media, media.c.case_id == Case.id)
        .outerjoin(faces, faces.c.case_id == Case.id)
        .order_by(Case.name)
    )
    return [(row[0], int(row[1]), int(row[2])) for row in session.execute(query)]


def count_video(session: Session, media_id: int) -> tuple[int, int]:
    """(faces, tracks) stored for one video."""
    faces = session.scalar(select(func.count(Face.id)).where(Face.media_id == media_id))
    tracks = session.scalar(select(func.count(Track.id)).where(Track.media_id == media_id))
    return int(faces or 0), int(tracks or 0)


def video_tracks(
    session: Session, case_name: str | None = None, ids: Sequence[int] | None = None
) -> list[Track]:
    """Tracks of scanned videos (optionally of one case, or only `ids`), by video and time."""
    query = (
        select(Track)
        .join(Media, Track.media_id == Media.id)
        .options(selectinload(Track.media), selectinload(Track.best_face))
        .order_by(Media.path, Track.start, Track.number)
    )
    if case_name is not None:
        query = in_case(query, case_name)
    if ids is not None:
        query = query.where(Track.id.in_(list(ids)))
    return list(session.scalars(query))


def frame_faces(session: Session, media_id: int, frame_index: int) -> list[Face]:
    """The faces stored for one frame of a video, with their tracks and people."""
    return list(
        session.scalars(
            select(Face)
            .where(Face.media_id == media_id, Face.frame_index == frame_index)
            .options(selectinload(Face.track), selectinload(Face.person))
            .order_by(Face.id)
        )
    )


def best_shot_ids(session: Session, track_ids: Sequence[int]) -> dict[int, list[int]]:
    """Track id → ids of its faces whose crops are kept (its best shots), best first."""
    if not track_ids:
        return {}
    rows = session.execute(
        select(Face.track_id, Face.id)
        .where(Face.track_id.in_(list(track_ids)), Face.crop.is_not(None))
        .order_by(Face.quality.desc(), Face.id)
    )
    out: dict[int, list[int]] = {}
    for track_id, face_id in rows:
        if track_id is not None:
            out.setdefault(track_id, []).append(face_id)
    return out


def face_crop(session: Session, face_id: int) -> bytes | None:
    return session.scalar(select(Face.crop).where(Face.id == face_id))


def faces_seen_together(
    session: Session, model_sha256: str, case_name: str | None = None
) -> list[tuple[int, int, int, int | None, tuple[float, float, float, float], np.ndarray]]:
    """(face id, media id, frame index, track id, box, embedding) of every face that shares
    its photo or video frame with another face of the same model (optionally in one case)."""
    crowded = (
        select(Face.media_id, Face.frame_index)
        .where(Face.model_sha256 == model_sha256)
        .group_by(Face.media_id, Face.frame_index)
        .having(func.count(Face.id) > 1)
        .subquery()
    )
    query = (
        select(Face.id, Face.media_id, Face.frame_index, Face.track_id)
        .add_columns(Face.x1, Face.y1, Face.x2, Face.y2, Face.embedding)
        .join(
            crowded,
            (crowded.c.media_id == Face.media_id) & (crowded.c.frame_index == Face.frame_index),
        )
        .join(Media, Media.id == Face.media_id)
        .where(Face.model_sha256 == model_sha256)
        .order_by(Face.media_id, Face.frame_index, Face.id)
    )
    if case_name is not None:
        query = in_case(query, case_name)
    return [
        (r[0], r[1], r[2], r[3], (r[4], r[5], r[6], r[7]), decode_vector(r[8]))
        for r in session.execute(query)
    ]


def track_templates(session: Session, track_ids: Sequence[int]) -> dict[int, np.ndarray]:
    if not track_ids:
        return {}
    rows = session.execute(select(Track.id, Track.template).where(Track.id.in_(list(track_ids))))
    return {track_id: decode_vector(blob) for track_id, blob in rows}


def faces_stamp(session: Session) -> tuple[int, int, int]:
    """(gallery version, faces, largest face id): changes whenever faces are added, removed
    or enrolled, so what is derived from them knows it is stale."""
    count, largest = session.execute(select(func.count(Face.id), func.max(Face.id))).one()
    return gallery_version(session), int(count or 0), int(largest or 0)


def remove_person(session: Session, name: str, actor: str, note: str | None) -> list[int] | None:
    """Take a person out of the gallery: their faces stay stored (evidence), unenrolled, and
    the change is recorded. The ids of those faces, or None if there is no such person."""
    person = person_by_name(session, name)
    if person is None:
        return None
    face_ids = [f.id for f in person.faces]
    for face in person.faces:
        face.person_id = None
    session.add(GalleryChange(actor=actor, action="remove_person", person=name,
                              face_ids=face_ids, note=note))  # fmt: skip
    session.delete(person)
    bump_gallery_version(session)
    return face_ids


def unenroll_face(session: Session, face_id: int, actor: str, note: str | None) -> str | None:
    """Unenrol one face (it stays stored); a person left without faces is removed. The
    person's name, or None if the face is not enrolled."""
    face = session.get(Face, face_id)
    if face is None or face.person is None:
        return None
    person = face.person
    face.person_id = None
    session.add(GalleryChange(actor=actor, action="unenroll_face", person=person.name,
                              face_ids=[face_id], note=note))  # fmt: skip
    session.flush()
    if not session.scalar(select(func.count(Face.id)).where(Face.person_id == person.id)):
        session.delete(person)
    bump_gallery_version(session)
    return person.name


def gallery_changes(session: Session) -> list[GalleryChange]:
    return list(session.scalars(select(GalleryChange).order_by(GalleryChange.id)))
