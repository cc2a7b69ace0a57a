"""Where stored files came from (facesift.media.sources): kept once per post or capture."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields
from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from facesift.media.sources import MediaSource
from facesift.store.schema import Media, MediaSourceRow

_FIELDS = tuple(f.name for f in fields(MediaSource))


def add_sources(session: Session, media_id: int, sources: Sequence[MediaSource]) -> list[str]:
    """Add the sources the file does not have yet (by key); the keys of the new ones."""
    known = set(
        session.scalars(select(MediaSourceRow.key).where(MediaSourceRow.media_id == media_id))
    )
    added: list[str] = []
    for source in sources:
        if source.key in known:
            continue
        known.add(source.key)
        session.add(MediaSourceRow(media_id=media_id, **{f: getattr(source, f) for f in _FIELDS}))
        added.append(source.key)
    if added:
        session.flush()
    return added


def sources_stamp(session: Session) -> int:
    """The newest source's id (sources are only ever added)."""
    return int(session.scalar(select(func.max(MediaSourceRow.id))) or 0)


def _source(row: MediaSourceRow) -> MediaSource:
    values = {f: getattr(row, f) for f in _FIELDS}
    for name, value in values.items():  # SQLite gives back naive times: they were UTC
        if isinstance(value, datetime) and value.tzinfo is None:
            values[name] = value.replace(tzinfo=UTC)
    return MediaSource(**values)


def sources_of(session: Session, media_ids: Sequence[int]) -> dict[int, list[MediaSource]]:
    """media id → its sources, earliest post or capture first."""
    wanted = list(dict.fromkeys(media_ids))
    out: dict[int, list[MediaSource]] = {}
    for at in range(0, len(wanted), 500):
        query = select(MediaSourceRow).where(MediaSourceRow.media_id.in_(wanted[at : at + 500]))
        for row in session.scalars(query):
            out.setdefault(row.media_id, []).append(_source(row))
    for found in out.values():
        found.sort(key=_earliest_first)
    return out


def _earliest_first(source: MediaSource) -> tuple[bool, datetime, str]:
    when = source.when
    return (when is None, when or datetime.min.replace(tzinfo=UTC), source.key)


def sources_by_sha256(session: Session, sha256s: Sequence[str]) -> dict[str, list[MediaSource]]:
    """sha256 → the stored file's sources."""
    query = select(Media.id, Media.sha256).where(Media.sha256.in_(list(sha256s)))
    ids: dict[int, str] = {row[0]: row[1] for row in session.execute(query)}
    return {ids[media_id]: found for media_id, found in sources_of(session, list(ids)).items()}
