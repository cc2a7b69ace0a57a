"""Unknown-person clusters in the store: membership, state, and the record of every change.

Each change is written as the state it replaced and the state it made (`ClusterState`), so
that any operation can be undone exactly, and only while what it made is still there.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.orm import Session, selectinload

from facesift.store import repository as repo
from facesift.store.records import ClusterEntry, ClusterOperationEntry, Sighting, StoredFace
from facesift.store.rows import stored_face
from facesift.store.schema import (
    Case,
    Cluster,
    ClusterFace,
    ClusterOperation,
    Face,
    GalleryChange,
    Media,
    Person,
    utcnow,
)

WORKSPACE_SCOPE = 0  # the scope of clusters over the whole workspace


@dataclass
class ClusterState:
    """The state of some clusters and faces: a cluster's attributes (None: it does not
    exist) and each face's cluster (None: in none)."""

    clusters: dict[int, dict[str, Any] | None]
    faces: dict[int, int | None]

    def to_json(self) -> dict[str, Any]:
        return {
            "clusters": {str(k): v for k, v in self.clusters.items()},
            "faces": {str(k): v for k, v in self.faces.items()},
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ClusterState:
        return cls(
            {int(k): v for k, v in data.get("clusters", {}).items()},
            {int(k): v for k, v in data.get("faces", {}).items()},
        )


class Clusters:
    """The clusters part of a transaction (`Tx.clusters`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def scope(self, case: str | None) -> int | None:
        """The scope of a case (None when there is no such case); the workspace's for None."""
        if case is None:
            return WORKSPACE_SCOPE
        return self._session.scalar(select(Case.id).where(Case.name == case))

    def lock_scope(self, scope: int) -> None:
        """Serialise writers of one scope (PostgreSQL; SQLite's write lock does it anyway)."""
        if self._session.get_bind().dialect.name == "postgresql":
            self._session.execute(
                select(func.pg_advisory_xact_lock(0x66616365, scope))  # "face"
            )

    def entries(self, scope: int, ids: Iterable[int] | None = None) -> list[ClusterEntry]:
        """The clusters of a scope (or those of `ids`), with their face ids, by id."""
        query = select(Cluster).where(Cluster.scope == scope).order_by(Cluster.id)
        if ids is not None:
            query = query.where(Cluster.id.in_(list(ids)))
        clusters = list(self._session.scalars(query))
        members: dict[int, list[int]] = {c.id: [] for c in clusters}
        faces = select(ClusterFace.cluster_id, ClusterFace.face_id).where(
            ClusterFace.scope == scope
        )
        if ids is not None:
            faces = faces.where(ClusterFace.cluster_id.in_(list(members)))
        rows = self._session.execute(faces.order_by(ClusterFace.face_id))
        for cluster_id, face_id in rows:
            if cluster_id in members:
                members[cluster_id].append(face_id)
        names = {
            p.id: p.name
            for p, _ in repo.list_people(
                self._session, [c.person_id for c in clusters if c.person_id is not None]
            )
        }
        return [
            ClusterEntry(
                c.id,
                c.scope,
                c.state,
                c.locked,
                c.person_id,
                names.get(c.person_id) if c.person_id is not None else None,
                tuple(members[c.id]),
            )
            for c in clusters
        ]

    def membership(self, scope: int) -> dict[int, int]:
        """face id → cluster id, for every clustered face of a scope."""
        rows = self._session.execute(
            select(ClusterFace.face_id, ClusterFace.cluster_id).where(ClusterFace.scope == scope)
        )
        return {face_id: cluster_id for face_id, cluster_id in rows}

    def new_clusters(self, scope: int, count: int, *, locked: bool) -> list[int]:
        """Ids of `count` new, empty, open clusters."""
        if count <= 0:
            return []
        made = self._session.scalars(
            insert(Cluster).returning(Cluster.id, sort_by_parameter_order=True),
            [{"scope": scope, "state": "open", "locked": locked, "created_at": utcnow()}] * count,
        )
        return list(made)

    def state(
        self,
        scope: int,
        clusters: Iterable[int],
        faces: Iterable[int],
        created: Iterable[int] = (),
    ) -> ClusterState:
        """The present state of some clusters and faces of a scope; clusters `created` in this
        transaction count as not existing (the state before they were made)."""
        wanted = set(clusters)
        rows = {
            c.id: c
            for c in self._session.scalars(
                select(Cluster).where(Cluster.scope == scope, Cluster.id.in_(list(wanted)))
            )
        }
        face_ids = list(set(faces))
        of_face = {
            face_id: cluster_id
            for part in _batches(face_ids)
            for face_id, cluster_id in self._session.execute(
                select(ClusterFace.face_id, ClusterFace.cluster_id).where(
                    ClusterFace.scope == scope, ClusterFace.face_id.in_(part)
                )
            )
        }
        new = set(created)
        return ClusterState(
            {
                k: _attributes(rows[k]) if k in rows and k not in new else None
                for k in sorted(wanted)
            },
            {f: of_face.get(f) for f in sorted(face_ids)},
        )

    def apply(self, scope: int, state: ClusterState) -> None:
        """Make `state` true: clusters created, changed or deleted, faces moved (in bulk)."""
        kept = {k: v for k, v in state.clusters.items() if v is not None}
        present = set(
            self._session.scalars(select(Cluster.id).where(Cluster.scope == scope))
        ) & set(kept)
        changes = [{"id": k, **kept[k]} for k in sorted(present)]
        if changes:
            self._session.execute(update(Cluster), changes)
        restored = [
            {"id": k, "scope": scope, "created_at": utcnow(), **kept[k]}
            for k in sorted(set(kept) - present)
        ]
        if restored:
            self._session.execute(insert(Cluster), restored)
        faces = list(state.faces)
        for part in _batches(faces):
            self._session.execute(
                delete(ClusterFace).where(ClusterFace.scope == scope, ClusterFace.face_id.in_(part))
            )
        rows = [
            {"scope": scope, "face_id": f, "cluster_id": c}
            for f, c in state.faces.items()
            if c is not None
        ]
        if rows:
            self._session.execute(insert(ClusterFace), rows)
        dropped = [k for k, v in state.clusters.items() if v is None]
        for part in _batches(dropped):
            self._session.execute(delete(ClusterFace).where(ClusterFace.cluster_id.in_(part)))
            self._session.execute(delete(Cluster).where(Cluster.id.in_(part)))
        self._session.expire_all()

    def record(
        self,
        scope: int,
        actor: str,
        action: str,
        summary: str,
        *,
        details: dict[str, Any],
        before: ClusterState,
        after: ClusterState,
    ) -> int:
        """Record one change with the state it replaced and the state it made; its id."""
        operation = ClusterOperation(
            scope=scope,
            actor=actor,
            action=action,
            summary=summary,
            details=details,
            before=before.to_json(),
            after=after.to_json(),
        )
        self._session.add(operation)
        self._session.flush()
        return operation.id

    def operation(
        self, scope: int, operation_id: int
    ) -> tuple[ClusterOperationEntry, ClusterState, ClusterState] | None:
        """An operation of a scope with the state it replaced and the state it made."""
        row = self._session.get(ClusterOperation, operation_id)
        if row is None or row.scope != scope:
            return None
        return (
            _operation_entry(row),
            ClusterState.from_json(row.before),
            ClusterState.from_json(row.after),
        )

    def enroll(
        self, face_ids: Sequence[int], person: str, attributes: dict[str, Any] | None, actor: str
    ) -> int:
        """Enrol faces as `person` (created if new), recorded as a gallery change; their id."""
        found = repo.get_or_create_person(self._session, person, attributes)
        self._session.flush()
        for face in self._session.scalars(select(Face).where(Face.id.in_(list(face_ids)))):
            face.person_id = found.id
        self._session.add(
            GalleryChange(
                actor=actor,
                action="enroll",
                person=person,
                face_ids=list(face_ids),
                note="a cluster of unknown faces named",
            )
        )
        repo.bump_gallery_version(self._session)
        return found.id

    def unenroll(self, face_ids: Sequence[int], actor: str, note: str) -> None:
        """Unenrol faces (a person left without faces is removed), each recorded."""
        for face_id in face_ids:
            repo.unenroll_face(self._session, face_id, actor, note)

    def mark_undone(self, operation_id: int, by: int) -> None:
        row = self._session.get(ClusterOperation, operation_id)
        assert row is not None
        row.undone_by = by

    def operations(self, scope: int) -> list[ClusterOperationEntry]:
        """Every change of a scope's clusters, oldest first."""
        rows = self._session.scalars(
            select(ClusterOperation)
            .where(ClusterOperation.scope == scope)
            .order_by(ClusterOperation.id)
        )
        return [_operation_entry(r) for r in rows]

    def faces(self, face_ids: Sequence[int]) -> list[StoredFace]:
        """Stored faces by id (with their file), in the order of `face_ids`."""
        rows = {
            r.id: r
            for part in _batches(list(face_ids))
            for r in self._session.scalars(
                select(Face)
                .where(Face.id.in_(part))
                .options(selectinload(Face.media), selectinload(Face.person))
            )
        }
        return [stored_face(rows[f]) for f in face_ids if f in rows]

    def media_times(self, media_ids: Iterable[int]) -> dict[int, tuple[str, dict[str, Any]]]:
        """media id → (kind, exif or container metadata), for dating appearances."""
        return {
            row[0]: (row[1], dict(row[2] or {}))
            for part in _batches(list(set(media_ids)))
            for row in self._session.execute(
                select(Media.id, Media.kind, Media.exif).where(Media.id.in_(part))
            )
        }

    def sightings(
        self,
        case: str | None,
        model_sha256: str | None,
        *,
        unenrolled: bool = False,
        face_ids: Sequence[int] | None = None,
    ) -> list[Sighting]:
        """Faces of a case's media (or all; or those of `face_ids`), made by one model (or
        any), by file and frame: one lean query (no model objects), for clustering tens of
        thousands of faces."""
        query = (
            select(
                Face.id,
                Face.media_id,
                Media.path,
                Media.sha256,
                Media.kind,
                Face.frame_index,
                Face.timestamp,
                Face.track_id,
                Face.person_id,
                Person.name,
                Face.x1,
                Face.y1,
                Face.x2,
                Face.y2,
                Face.quality,
                Face.face_px,
                Face.embedding,
            )
            .join(Media, Media.id == Face.media_id)
            .outerjoin(Person, Person.id == Face.person_id)
            .order_by(Media.path, Face.frame_index, Face.id)
        )
        if model_sha256 is not None:
            query = query.where(Face.model_sha256 == model_sha256)
        if unenrolled:
            query = query.where(Face.person_id.is_(None))
        if case is not None:
            query = repo.in_case(query, case)
        parts = [query] if face_ids is None else [
            query.where(Face.id.in_(part)) for part in _batches(list(face_ids))
        ]  # fmt: skip
        return [
            Sighting(
                r[0],
                r[1],
                r[2],
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                (r[10], r[11], r[12], r[13]),
                r[14],
                r[15],
                repo.decode_vector(r[16]),
            )
            for q in parts
            for r in map(tuple, self._session.execute(q))
        ]


def _batches(ids: Sequence[int], size: int = 5000) -> Iterator[list[int]]:
    """`ids` in parts small enough for one statement's parameters (SQLite allows 32,766)."""
    for start in range(0, len(ids), size):
        yield list(ids[start : start + size])


def _attributes(row: Cluster) -> dict[str, Any]:
    return {"state": row.state, "locked": row.locked, "person_id": row.person_id}


def _operation_entry(row: ClusterOperation) -> ClusterOperationEntry:
    return ClusterOperationEntry(
        row.id, row.at, row.actor, row.action, row.summary, dict(row.details), row.undone_by
    )
