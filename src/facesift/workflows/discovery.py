"""Unknown-person discovery: group a case's unidentified faces and video tracks into
clusters, and list them. Analysts' corrections are in cluster_review, who appears with whom
in cooccurrence; both build on what is here.

What is clustered: the stored faces of the case (or workspace) that are not enrolled and
whose best gallery candidate is below the decision threshold, made by the workspace's model.
A video track is one item (its template) and brings its faces along. Clusters merge when the
average score of all their pairs of faces reaches a threshold at which about one false merge
per face is expected, and never at an estimated pair false-match rate above 1e-3 (facesift.
match.clustering), under the calibration in force for the case. Two faces of one photo or one
video frame are never put in one cluster.

Runs are incremental: faces already in clusters stay there, new ones join or make new
clusters. `full=True` dissolves the clusters no analyst touched and clusters again; touched
ones (locked) are kept as they are and never merged with each other.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesift.errors import NotFound, WorkspaceError
from facesift.match.clustering import (
    DEFAULT_FALSE_MERGES_PER_FACE,
    DEFAULT_NEIGHBOURS,
    FULL_WEIGHT_FACE_PX,
    MIN_WEIGHT,
    agglomerate,
    face_weights,
    pair_fmr,
)
from facesift.match.policy import DecisionPolicy
from facesift.media.files import capture_time
from facesift.store.clusters import ClusterState
from facesift.store.records import ClusterEntry, Sighting, StoredTrack
from facesift.store.store import Tx
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.identify import candidates
from facesift.workflows.results import (
    Candidate,
    ClusteredFace,
    ClusterListing,
    ClusterOperationEntry,
    ClusterView,
    Source,
)

ALGORITHM = "constrained average linkage, cohort-normalised"
STATES = ("open", "named", "ignored", "not_a_face")


@dataclass
class _Item:
    """One thing clustered: a photo face, or the faces of a track that share a cluster."""

    face_ids: list[int]
    vector: np.ndarray
    occasions: set[tuple[int, int]]
    cluster: int | None
    face_px: float  # its widest face: small faces weigh less in a cluster's averages


@dataclass(frozen=True)
class Scope:
    id: int
    case: str | None


def scope_of(tx: Tx, case: str | None) -> Scope:
    scope = tx.clusters.scope(case)
    if scope is None:
        raise NotFound(f"no case named {case!r} in this workspace")
    return Scope(scope, case)


@dataclass
class Unidentified:
    """A scope's faces that match nobody (photo faces; track faces by track, with the
    track templates) and, for the others, whom they match at the decision threshold."""

    photo: list[Sighting]
    by_track: dict[int, list[Sighting]]
    templates: dict[int, np.ndarray]
    matched: dict[int, str]  # face id → gallery person, for faces that are not unknown


def unidentified(ctx: Context, case: str | None, in_force: DecisionPolicy) -> Unidentified:
    def read(tx: Tx) -> tuple[list[Sighting], list[StoredTrack]]:
        return (
            tx.clusters.sightings(case, ctx.model.sha256, unenrolled=True),
            tx.video_tracks(case, ctx.model),
        )

    faces, tracks = ctx.store.read(read)
    photo = [f for f in faces if f.track_id is None]
    ranked = candidates(
        ctx, _rows([f.embedding for f in photo]), 1, [f.face_px for f in photo], in_force
    )
    matched = {f.id: c[0].person for f, c in zip(photo, ranked, strict=True) if _hit(c)}
    track_faces: dict[int, list[Sighting]] = {}
    for face in faces:
        if face.track_id is not None:
            track_faces.setdefault(face.track_id, []).append(face)
    templates = _rows([t.template for t in tracks])
    px = [t.best_face.face.quality.face_px if t.best_face else np.inf for t in tracks]
    by_track: dict[int, list[Sighting]] = {}
    kept: dict[int, np.ndarray] = {}
    for track, found in zip(tracks, candidates(ctx, templates, 1, px, in_force), strict=True):
        members = track_faces.get(track.id, [])
        if _hit(found):
            matched |= dict.fromkeys((f.id for f in members), found[0].person)
        elif members:
            by_track[track.id], kept[track.id] = members, track.template
    return Unidentified([f for f in photo if f.id not in matched], by_track, kept, matched)


def _rows(vectors: list[np.ndarray]) -> np.ndarray:
    """Vectors as an n×d matrix, also when there are none."""
    return np.array(vectors, np.float32) if vectors else np.zeros((0, 1), np.float32)


def _hit(ranked: list[Candidate]) -> bool:
    return bool(ranked) and ranked[0].above_threshold


def _items(
    photo: list[Sighting],
    by_track: dict[int, list[Sighting]],
    templates: dict[int, np.ndarray],
    membership: dict[int, int],
) -> list[_Item]:
    """Photo faces one by one; a track's faces grouped by the cluster they are in (a whole
    track is matched by its template, part of one by the mean of its faces)."""
    items = [
        _Item([f.id], f.embedding, {(f.media_id, f.frame_index)}, membership.get(f.id), f.face_px)
        for f in photo
    ]
    for track_id, faces in by_track.items():
        groups: dict[int | None, list[Sighting]] = {}
        for face in faces:
            groups.setdefault(membership.get(face.id), []).append(face)
        for cluster, members in groups.items():
            whole = len(groups) == 1
            vector = (
                templates[track_id] if whole else np.mean([m.embedding for m in members], axis=0)
            )
            occasions = {(m.media_id, m.frame_index) for m in members}
            widest = max(m.face_px for m in members)
            items.append(_Item([m.id for m in members], vector, occasions, cluster, widest))
    return items


def cluster_threshold(in_force: DecisionPolicy, items: int) -> tuple[float, dict[str, Any]]:
    """The average-linkage score at which clustering `items` faces and tracks expects about
    one false merge per face, at a pair FMR of at most MAX_PAIR_FMR (facesift.match.clustering)
    under the calibration in force; and how it was set."""
    if in_force.calibrated and in_force.fixed_threshold is None:
        fmr = pair_fmr(items)
        return in_force.threshold_for(fmr), {"fmr": fmr, "calibration": in_force.source}
    return in_force.threshold, {"fmr": None, "calibration": None}


def cluster(
    ctx: Context, *, case: str | None = None, actor: str, full: bool = False
) -> ClusterListing:
    """Cluster the unidentified faces of a case (or the workspace); see the module."""
    started = time.perf_counter()
    if case is not None and not ctx.store.read(lambda tx: tx.case_exists(case)):
        raise NotFound(f"no case named {case!r} in this workspace")
    in_force = policy(ctx, case)
    unknown = unidentified(ctx, case, in_force)
    photo, by_track, templates = unknown.photo, unknown.by_track, unknown.templates
    if not photo and not by_track:
        where = f"case {case!r}" if case else "this workspace"
        raise WorkspaceError(f"{where} has no unidentified faces to cluster (scan media first)")
    threshold, how = cluster_threshold(in_force, len(photo) + len(by_track))
    algorithm = {
        "name": ALGORITHM,
        "threshold": round(threshold, 4),
        **how,
        "false_merges_per_face": DEFAULT_FALSE_MERGES_PER_FACE,
        "cohort_normalisation": True,
        "weights": f"face width / {FULL_WEIGHT_FACE_PX:g} px, at least {MIN_WEIGHT:g}",
        "neighbours": DEFAULT_NEIGHBOURS,
        "model": ctx.model.name,
        "model_sha256": ctx.model.sha256,
        "mode": "full" if full else "incremental",
    }

    def write(tx: Tx) -> int:
        scope = scope_of(tx, case)
        tx.clusters.lock_scope(scope.id)
        entries = {c.id: c for c in tx.clusters.entries(scope.id)}
        membership = {
            f: c for f, c in tx.clusters.membership(scope.id).items() if entries[c].state != "named"
        }
        items = _items(photo, by_track, templates, membership)
        kept = {c for c, e in entries.items() if e.locked or not full}
        initial = np.array([i.cluster if i.cluster in kept else -1 for i in items], np.int64)
        result = agglomerate(
            np.array([i.vector for i in items], np.float32),
            threshold,
            occasions=[i.occasions for i in items],
            initial=initial,
            locked=[c for c in kept if entries[c].locked],
            weights=face_weights(np.array([i.face_px for i in items], np.float64)),
        )
        after = _assign(tx, scope.id, items, result.labels, entries, kept)
        made = [c for c, a in after.clusters.items() if a is not None and c not in entries]
        before = tx.clusters.state(scope.id, after.clusters, after.faces, created=made)
        tx.clusters.apply(scope.id, after)
        summary = f"{len(items)} items clustered ({algorithm['mode']}): {len(made)} new cluster(s)"
        details = {"algorithm": algorithm, "items": len(items), "created": made}
        op = tx.clusters.record(
            scope.id, actor, "cluster", summary, details=details, before=before, after=after
        )
        tx.audit(
            actor,
            "cluster.run",
            objects={"operation": op, "case": case},
            details={"summary": summary, **details},
        )
        return op

    ctx.store.transaction(write)
    listing = _listing(ctx, case, ("open",), unknown)
    return ClusterListing(
        listing.case,
        listing.clusters,
        listing.unclustered,
        algorithm,
        time.perf_counter() - started,
    )


def _assign(
    tx: Tx,
    scope: int,
    items: list[_Item],
    labels: np.ndarray,
    entries: dict[int, ClusterEntry],
    kept: set[int],
) -> ClusterState:
    """The cluster of every item after a run: a group holding kept clusters keeps the oldest
    (the locked one, if any); a new group of two or more items reuses the dissolved cluster
    it shares most faces with, or gets a new one; a lone item is in none."""
    groups: dict[int, list[_Item]] = {}
    for item, label in zip(items, labels.tolist(), strict=True):
        groups.setdefault(label, []).append(item)
    free = {c for c, e in entries.items() if c not in kept and e.state != "named"}
    where = {f: e.id for e in entries.values() for f in e.face_ids}
    faces: dict[int, int | None] = {}
    clusters: dict[int, dict[str, Any] | None] = {}
    fresh: list[list[_Item]] = []  # groups that need a new cluster
    for members in sorted(groups.values(), key=len, reverse=True):
        held = sorted(
            {i.cluster for i in members if i.cluster is not None and i.cluster in kept},
            key=lambda c: (not entries[c].locked, c),
        )
        target: int | None = None
        if held:
            target = held[0]
            clusters |= dict.fromkeys(held[1:])
        elif len(members) > 1:
            overlap: dict[int, int] = {}
            for i in members:
                if i.cluster is not None and i.cluster in free:
                    overlap[i.cluster] = overlap.get(i.cluster, 0) + len(i.face_ids)
            if overlap:
                target = max(overlap, key=lambda c: (overlap[c], -c))
                free.discard(target)
            else:
                fresh.append(members)
                continue
        for item in members:
            faces |= dict.fromkeys(item.face_ids, target)
    for members, new in zip(
        fresh, tx.clusters.new_clusters(scope, len(fresh), locked=False), strict=True
    ):
        clusters[new] = {"state": "open", "locked": False, "person_id": None}
        for item in members:
            faces |= dict.fromkeys(item.face_ids, new)
    clusters |= dict.fromkeys(free)
    for gone in [c for c, a in clusters.items() if a is None]:
        for face_id in entries[gone].face_ids:
            faces.setdefault(face_id, None)  # faces that are no longer unknown
    for cluster_id in {c for c in faces.values() if c is not None} - set(clusters):
        entry = entries[cluster_id]
        clusters[cluster_id] = {
            "state": entry.state,
            "locked": entry.locked,
            "person_id": entry.person_id,
        }
    changed = {f: c for f, c in faces.items() if where.get(f) != c}
    return ClusterState(clusters, changed)


# ------------------------------------------------------------------------------ listings
def cluster_views(tx: Tx, entries: list[ClusterEntry]) -> list[ClusterView]:
    dated = dated_faces(tx, [f for e in entries for f in e.face_ids])
    return [
        ClusterView(
            e.id,
            e.state,
            e.locked,
            e.person,
            sorted((dated[f] for f in e.face_ids if f in dated), key=_by_place),
        )
        for e in entries
    ]


def _by_place(face: ClusteredFace) -> tuple[str, int, int]:
    return (face.source.path or "", face.source.frame_index or 0, face.face_id)


def dated_faces(tx: Tx, face_ids: list[int]) -> dict[int, ClusteredFace]:
    """face id → the face as listings show it: where, when taken or shown, its sources."""
    return _dated(tx, tx.clusters.sightings(None, None, face_ids=face_ids))


def _dated(tx: Tx, faces: list[Sighting]) -> dict[int, ClusteredFace]:
    """Cluster listings' faces, with when their photo was taken or their frame shown."""
    media = tx.clusters.media_times(f.media_id for f in faces)
    seen = tx.sources_of([f.media_id for f in faces])
    out = {}
    for f in faces:
        kind, metadata = media.get(f.media_id, ("image", {}))
        out[f.id] = ClusteredFace(
            f.id,
            f.track_id,
            f.bbox,
            f.quality,
            Source(f.path, f.sha256, f.frame_index, f.timestamp, tuple(seen.get(f.media_id, ()))),
            capture_time(kind, metadata, f.timestamp),
        )
    return out


def clusters(
    ctx: Context, *, case: str | None = None, states: Iterable[str] = ("open",)
) -> ClusterListing:
    """The clusters of a case (or the workspace) in `states`, largest first, and the
    unidentified faces in no cluster."""
    return _listing(ctx, case, states, unidentified(ctx, case, policy(ctx, case)))


def _listing(
    ctx: Context, case: str | None, states: Iterable[str], unknown: Unidentified
) -> ClusterListing:
    wanted = set(states)

    def read(tx: Tx) -> ClusterListing:
        scope = scope_of(tx, case)
        entries = tx.clusters.entries(scope.id)
        clustered = {f for e in entries for f in e.face_ids}
        views = cluster_views(tx, [e for e in entries if e.state in wanted])
        # An open cluster lists only faces still unidentified: one enrolled or matched since
        # the clustering ran is known now (the next run takes it out for good).
        still = {f.id for f in unknown.photo} | {
            f.id for faces in unknown.by_track.values() for f in faces
        }
        views = [
            v if v.state != "open" else dataclasses.replace(
                v, faces=[f for f in v.faces if f.face_id in still])
            for v in views
        ]  # fmt: skip
        views = [v for v in views if v.faces]
        views.sort(key=lambda v: (-v.appearances, -len(v.faces), v.cluster_id))
        loose = [f for f in unknown.photo if f.id not in clustered] + [
            f for faces in unknown.by_track.values() for f in faces if f.id not in clustered
        ]
        dated = _dated(tx, loose)
        return ClusterListing(case, views, sorted(dated.values(), key=_by_place))

    return ctx.store.read(read)


def show(ctx: Context, cluster_id: int, *, case: str | None = None) -> ClusterView:
    """One cluster with all its faces."""
    return ctx.store.read(
        lambda tx: cluster_views(tx, [cluster_entry(tx, scope_of(tx, case), cluster_id)])[0]
    )


def cluster_entry(tx: Tx, scope: Scope, cluster_id: int) -> ClusterEntry:
    found = tx.clusters.entries(scope.id, [cluster_id])
    if not found:
        where = f"case {scope.case!r}" if scope.case else "the workspace's clusters"
        raise NotFound(f"no cluster {cluster_id} in {where}")
    return found[0]


def operations(ctx: Context, *, case: str | None = None) -> list[ClusterOperationEntry]:
    """Every change of a case's (or the workspace's) clusters, oldest first: who, when, what."""
    return ctx.store.read(lambda tx: tx.clusters.operations(scope_of(tx, case).id))


def similar_clusters(ctx: Context, views: list[ClusterView]) -> dict[int, tuple[int, float]]:
    """For each cluster, the other one whose mean face is most similar and that similarity:
    the merge an analyst should look at first."""
    ids = [v.cluster_id for v in views if v.faces]
    if len(ids) < 2:
        return {}
    face_ids = [f.face_id for v in views for f in v.faces]
    vectors = {s.id: s.embedding for s in ctx.store.read(
        lambda tx: tx.clusters.sightings(None, None, face_ids=face_ids))}  # fmt: skip
    means = []
    for view in views:
        if view.faces:
            mean = np.mean([vectors[f.face_id] for f in view.faces], axis=0)
            means.append(mean / (np.linalg.norm(mean) or 1.0))
    matrix = np.array(means, dtype=np.float32)
    scores = matrix @ matrix.T
    np.fill_diagonal(scores, -np.inf)
    best = scores.argmax(1)
    return {ids[k]: (ids[int(best[k])], float(scores[k, best[k]])) for k in range(len(ids))}
