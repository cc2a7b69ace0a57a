"""Unknown-person discovery: group a case's unidentified faces and video tracks into
clusters, and let analysts correct them (merge, split, name, mark), each change recorded
with who made it and undoable.

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

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from facesift.errors import MediaError, WorkspaceError
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
from facesift.media.files import capture_time, sha256_file
from facesift.media.image import load_image
from facesift.store.clusters import ClusterState
from facesift.store.records import ClusterEntry, Sighting, StoredFace, StoredTrack
from facesift.store.store import Tx
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.identify import candidates
from facesift.workflows.results import (
    Candidate,
    ClusteredFace,
    ClusterListing,
    ClusterOperationEntry,
    ClusterOperationResult,
    ClusterView,
    Companion,
    Cooccurrence,
    Source,
    Together,
)

ALGORITHM = "constrained average linkage, cohort-normalised"
STATES = ("open", "named", "ignored", "not_a_face")
MARKS = ("ignored", "not_a_face", "open")


@dataclass
class _Item:
    """One thing clustered: a photo face, or the faces of a track that share a cluster."""

    face_ids: list[int]
    vector: np.ndarray
    occasions: set[tuple[int, int]]
    cluster: int | None
    face_px: float  # its widest face: small faces weigh less in a cluster's averages


@dataclass(frozen=True)
class _Scope:
    id: int
    case: str | None


def _scope(tx: Tx, case: str | None) -> _Scope:
    scope = tx.clusters.scope(case)
    if scope is None:
        raise WorkspaceError(f"no case named {case!r} in this workspace")
    return _Scope(scope, case)


@dataclass
class _Unidentified:
    """A scope's faces that match nobody (photo faces; track faces by track, with the
    track templates) and, for the others, whom they match at the decision threshold."""

    photo: list[Sighting]
    by_track: dict[int, list[Sighting]]
    templates: dict[int, np.ndarray]
    matched: dict[int, str]  # face id → gallery person, for faces that are not unknown


def _unidentified(ctx: Context, case: str | None, in_force: DecisionPolicy) -> _Unidentified:
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
    return _Unidentified([f for f in photo if f.id not in matched], by_track, kept, matched)


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
        raise WorkspaceError(f"no case named {case!r} in this workspace")
    in_force = policy(ctx, case)
    unknown = _unidentified(ctx, case, in_force)
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
        scope = _scope(tx, case)
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
        return tx.clusters.record(
            scope.id,
            actor,
            "cluster",
            f"{len(items)} items clustered ({algorithm['mode']}): {len(made)} new cluster(s)",
            details={"algorithm": algorithm, "items": len(items), "created": made},
            before=before,
            after=after,
        )

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
def _views(tx: Tx, entries: list[ClusterEntry]) -> list[ClusterView]:
    ids = [f for e in entries for f in e.face_ids]
    faces = {f.id: f for f in tx.clusters.sightings(None, None, face_ids=ids)}
    dated = _dated(tx, list(faces.values()))
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


def _dated(tx: Tx, faces: list[Sighting]) -> dict[int, ClusteredFace]:
    """Cluster listings' faces, with when their photo was taken or their frame shown."""
    media = tx.clusters.media_times(f.media_id for f in faces)
    out = {}
    for f in faces:
        kind, metadata = media.get(f.media_id, ("image", {}))
        out[f.id] = ClusteredFace(
            f.id,
            f.track_id,
            f.bbox,
            f.quality,
            Source(f.path, f.sha256, f.frame_index, f.timestamp),
            capture_time(kind, metadata, f.timestamp),
        )
    return out


def clusters(
    ctx: Context, *, case: str | None = None, states: Iterable[str] = ("open",)
) -> ClusterListing:
    """The clusters of a case (or the workspace) in `states`, largest first, and the
    unidentified faces in no cluster."""
    return _listing(ctx, case, states, _unidentified(ctx, case, policy(ctx, case)))


def _listing(
    ctx: Context, case: str | None, states: Iterable[str], unknown: _Unidentified
) -> ClusterListing:
    wanted = set(states)

    def read(tx: Tx) -> ClusterListing:
        scope = _scope(tx, case)
        entries = tx.clusters.entries(scope.id)
        clustered = {f for e in entries for f in e.face_ids}
        views = _views(tx, [e for e in entries if e.state in wanted])
        views.sort(key=lambda v: (-v.appearances, -len(v.faces), v.cluster_id))
        loose = [f for f in unknown.photo if f.id not in clustered] + [
            f for faces in unknown.by_track.values() for f in faces if f.id not in clustered
        ]
        dated = _dated(tx, loose)
        return ClusterListing(case, views, sorted(dated.values(), key=_by_place))

    return ctx.store.read(read)


def show(ctx: Context, cluster_id: int, *, case: str | None = None) -> ClusterView:
    """One cluster with all its faces."""
    return ctx.store.read(lambda tx: _views(tx, [_entry(tx, _scope(tx, case), cluster_id)])[0])


def _entry(tx: Tx, scope: _Scope, cluster_id: int) -> ClusterEntry:
    found = tx.clusters.entries(scope.id, [cluster_id])
    if not found:
        where = f"case {scope.case!r}" if scope.case else "the workspace's clusters"
        raise WorkspaceError(f"no cluster {cluster_id} in {where}")
    return found[0]


def operations(ctx: Context, *, case: str | None = None) -> list[ClusterOperationEntry]:
    """Every change of a case's (or the workspace's) clusters, oldest first: who, when, what."""
    return ctx.store.read(lambda tx: tx.clusters.operations(_scope(tx, case).id))


# ------------------------------------------------------------------ analyst operations
def _change(
    ctx: Context,
    case: str | None,
    actor: str,
    action: str,
    plan: Callable[[Tx, _Scope], tuple[str, ClusterState, dict[str, Any]]],
) -> ClusterOperationResult:
    """Run `plan(tx, scope) -> (summary, after, details)` in one transaction, recording the
    state it replaced; the clusters it touched as they are now."""
    if not actor.strip():
        raise WorkspaceError("say who makes the change (an actor name)")

    def write(tx: Tx) -> tuple[int, str, list[int]]:
        scope = _scope(tx, case)
        tx.clusters.lock_scope(scope.id)
        summary, after, details = plan(tx, scope)
        created = details.get("created", [])
        before = tx.clusters.state(scope.id, after.clusters, after.faces, created=created)
        tx.clusters.apply(scope.id, after)
        op = tx.clusters.record(
            scope.id, actor, action, summary, details=details, before=before, after=after
        )
        if "undoes" in details:
            tx.clusters.mark_undone(details["undoes"], by=op)
        return op, summary, [c for c, a in after.clusters.items() if a is not None]

    op, summary, touched = ctx.store.transaction(write)
    views = ctx.store.read(lambda tx: _views(tx, tx.clusters.entries(_scope(tx, case).id, touched)))
    return ClusterOperationResult(op, action, summary, views)


def _locked(entry: ClusterEntry, **changes: Any) -> dict[str, Any]:
    return {"state": entry.state, "locked": True, "person_id": entry.person_id} | changes


def _occasions(tx: Tx, face_ids: Iterable[int]) -> dict[int, tuple[int, int]]:
    faces = tx.clusters.sightings(None, None, face_ids=list(face_ids))
    return {f.id: (f.media_id, f.frame_index) for f in faces}


def merge(
    ctx: Context, into: int, other: int, *, case: str | None = None, actor: str
) -> ClusterOperationResult:
    """Move all faces of cluster `other` into `into` (which the analyst thereby confirms)."""

    def plan(tx: Tx, scope: _Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        if into == other:
            raise WorkspaceError(f"cannot merge cluster {into} into itself")
        a, b = _entry(tx, scope, into), _entry(tx, scope, other)
        for entry in (a, b):
            if entry.state == "named":
                raise WorkspaceError(
                    f"cluster {entry.id} is named ({entry.person}): its faces are gallery faces"
                )
        seen = _occasions(tx, a.face_ids)
        shared = set(seen.values()) & set(_occasions(tx, b.face_ids).values())
        if shared:
            raise WorkspaceError(
                f"clusters {into} and {other} both have a face in the same photo or video "
                "frame: two faces seen together are different people"
            )
        after = ClusterState({into: _locked(a), other: None}, dict.fromkeys(b.face_ids, into))
        return f"cluster {other} merged into {into}", after, {"into": into, "other": other}

    return _change(ctx, case, actor, "merge", plan)


def split(
    ctx: Context, cluster_id: int, face_ids: Iterable[int], *, case: str | None = None, actor: str
) -> ClusterOperationResult:
    """Move some faces out of a cluster into a new one (both then count as analyst-made:
    automatic runs never merge them again)."""
    moving = sorted(set(face_ids))

    def plan(tx: Tx, scope: _Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        entry = _entry(tx, scope, cluster_id)
        if not moving:
            raise WorkspaceError("name the faces to split off")
        strangers = [f for f in moving if f not in entry.face_ids]
        if strangers:
            raise WorkspaceError(
                f"faces {', '.join(map(str, strangers))} are not in cluster {cluster_id}"
            )
        if len(moving) == len(entry.face_ids):
            raise WorkspaceError(
                f"splitting off every face of cluster {cluster_id} changes nothing"
            )
        if entry.state == "named":
            raise WorkspaceError(f"cluster {cluster_id} is named: unenrol its faces instead")
        new = tx.clusters.new_clusters(scope.id, 1, locked=True)[0]
        after = ClusterState(
            {cluster_id: _locked(entry), new: {"state": "open", "locked": True, "person_id": None}},
            dict.fromkeys(moving, new),
        )
        summary = f"{len(moving)} face(s) split off cluster {cluster_id} into cluster {new}"
        return summary, after, {"from": cluster_id, "to": new, "faces": moving, "created": [new]}

    return _change(ctx, case, actor, "split", plan)


def mark(
    ctx: Context, cluster_id: int, state: str, *, case: str | None = None, actor: str
) -> ClusterOperationResult:
    """Mark a cluster "ignored" or "not_a_face" (hidden from listings and co-occurrence; new
    faces like its own join it rather than making a new cluster), or "open" again."""
    if state not in MARKS:
        raise WorkspaceError(f"a cluster can be marked {', '.join(MARKS)}, not {state!r}")

    def plan(tx: Tx, scope: _Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        entry = _entry(tx, scope, cluster_id)
        if entry.state == "named":
            raise WorkspaceError(f"cluster {cluster_id} is named ({entry.person}): undo that first")
        if entry.state == state:
            raise WorkspaceError(f"cluster {cluster_id} is already {state}")
        after = ClusterState({cluster_id: _locked(entry, state=state)}, {})
        return f"cluster {cluster_id} marked {state}", after, {"state": state}

    return _change(ctx, case, actor, "mark", plan)


def name(
    ctx: Context,
    cluster_id: int,
    person: str,
    *,
    case: str | None = None,
    actor: str,
    attributes: dict[str, Any] | None = None,
) -> ClusterOperationResult:
    """Name a cluster: its faces are enrolled as `person` (a new or existing gallery person),
    so that searches find them."""
    person = person.strip()
    if not person:
        raise WorkspaceError("a person needs a name")
    templates, untemplated = _low_res_templates(
        ctx,
        ctx.store.read(
            lambda tx: tx.clusters.faces(list(_entry(tx, _scope(tx, case), cluster_id).face_ids))
        ),
    )

    def plan(tx: Tx, scope: _Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        entry = _entry(tx, scope, cluster_id)
        if entry.state != "open":
            raise WorkspaceError(
                f"cluster {cluster_id} is {entry.state}: only open clusters are named"
            )
        faces = tx.clusters.faces(list(entry.face_ids))
        taken = [f for f in faces if f.person_id is not None]
        if taken:
            raise WorkspaceError(
                f"face {taken[0].id} of cluster {cluster_id} is already enrolled "
                f"as {taken[0].person}"
            )
        others = [f for f in faces if f.model.sha256 != ctx.model.sha256]
        if others:
            raise WorkspaceError(
                f"face {others[0].id} was made by another model ({others[0].model.name})"
            )
        person_id = tx.clusters.enroll(entry.face_ids, person, attributes, actor)
        for face_id, template in templates.items():
            if face_id in entry.face_ids:
                tx.set_low_res_template(face_id, template)
        after = ClusterState({cluster_id: _locked(entry, state="named", person_id=person_id)}, {})
        missing = [f for f in entry.face_ids if f not in templates]
        details = {
            "person": person,
            "person_id": person_id,
            "faces": list(entry.face_ids),
            "without_low_res_template": {str(f): untemplated.get(f, "") for f in missing},
        }
        summary = f"cluster {cluster_id} named {person}: {len(faces)} face(s) enrolled"
        if missing:
            summary += (
                f" ({len(missing)} without a low-resolution template, so small probes are "
                "matched against the others: see the log's details)"
            )
        return summary, after, details

    return _change(ctx, case, actor, "name", plan)


def _low_res_templates(
    ctx: Context, faces: list[StoredFace]
) -> tuple[dict[int, np.ndarray], dict[int, str]]:
    """Low-resolution templates (facesift.vision.lowres) for the photo faces about to be
    enrolled, from their files when these are still the files scanned; why not for others."""
    made: dict[int, np.ndarray] = {}
    why: dict[int, str] = {}
    pixels: dict[str, np.ndarray | str] = {}
    for face in faces:
        if face.track_id is not None or face.frame_index:
            why[face.id] = "a video face"
            continue
        if face.path not in pixels:
            try:
                if sha256_file(face.path) != face.sha256:
                    pixels[face.path] = "the file changed since it was scanned"
                else:
                    pixels[face.path] = load_image(face.path).pixels
            except (OSError, MediaError) as exc:
                pixels[face.path] = f"the file cannot be read ({exc})"
        found = pixels[face.path]
        if isinstance(found, str):
            why[face.id] = found
        else:
            made[face.id] = ctx.engine.low_resolution_template(found, face.face)
    return made, why


def undo(
    ctx: Context, operation_id: int, *, case: str | None = None, actor: str
) -> ClusterOperationResult:
    """Undo an analyst's change, when what it made is still as it made it (undo later
    changes to the same clusters first). A naming is undone by unenrolling its faces."""

    def plan(tx: Tx, scope: _Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        found = tx.clusters.operation(scope.id, operation_id)
        if found is None:
            raise WorkspaceError(f"no cluster operation {operation_id} here")
        entry, before, after = found
        if entry.action in ("cluster", "undo"):
            raise WorkspaceError(
                f"operation {operation_id} is a {entry.action}: only analysts' changes are undone "
                "(a clustering run is redone with --full, which keeps analysts' changes)"
            )
        if entry.undone_by is not None:
            raise WorkspaceError(
                f"operation {operation_id} was undone by operation {entry.undone_by}"
            )
        now = tx.clusters.state(scope.id, after.clusters, after.faces)
        if now.to_json() != after.to_json():
            raise WorkspaceError(
                f"the clusters of operation {operation_id} changed since: "
                "undo the later changes first"
            )
        if entry.action == "name":
            tx.clusters.unenroll(entry.details["faces"], actor, f"undo of operation {operation_id}")
        return (
            f"operation {operation_id} ({entry.summary}) undone",
            before,
            {"undoes": operation_id},
        )

    return _change(ctx, case, actor, "undo", plan)


# ------------------------------------------------------------------------- co-occurrence
DEFAULT_WINDOW_S = 2.0  # seconds apart in a video that still count as seen together


def cooccur(
    ctx: Context, subject: str, *, case: str | None = None, window: float = DEFAULT_WINDOW_S
) -> Cooccurrence:
    """Who appears with `subject` (a gallery person's name, or "cluster:ID"): in the same
    photo, or in a video within `window` seconds; people are gallery faces and faces matched
    to them at the decision threshold, clusters are those not marked ignored."""
    if window < 0:
        raise WorkspaceError("the window cannot be negative")
    in_force = policy(ctx, case)
    unknown = _unidentified(ctx, case, in_force)

    def read(tx: Tx) -> tuple[list[Sighting], dict[int, tuple[str, int]], set[str]]:
        scope = _scope(tx, case)
        labels: dict[int, tuple[str, int]] = {}
        for entry in tx.clusters.entries(scope.id):
            if entry.state == "open":
                labels |= dict.fromkeys(entry.face_ids, (f"cluster:{entry.id}", entry.id))
        people = {p.name for p in tx.people()}
        return tx.clusters.sightings(case, ctx.model.sha256), labels, people

    seen, in_cluster, people = ctx.store.read(read)
    who: dict[int, str] = {}
    in_media: dict[int, list[Sighting]] = {}
    for a in seen:
        person = a.person or unknown.matched.get(a.id)
        if person is not None:
            who[a.id] = person
        elif a.id in in_cluster:
            who[a.id] = in_cluster[a.id][0]
        if a.id in who:
            in_media.setdefault(a.media_id, []).append(a)
    target = _subject(subject, people, set(who.values()))
    mine = [a for a in seen if who.get(a.id) == target]
    if not mine:
        raise WorkspaceError(f"{subject!r} appears in no media of {case or 'this workspace'}")
    moments: dict[tuple[str, int], list[float]] = {}
    for own in mine:
        for other in in_media[own.media_id]:
            name = who[other.id]
            if name == target:
                continue
            if (
                own.kind == "video"
                and abs((own.timestamp or 0.0) - (other.timestamp or 0.0)) > window
            ):
                continue
            moments.setdefault((name, own.media_id), []).append(own.timestamp or 0.0)
    files = {a.media_id: a for a in seen}
    companions: dict[str, list[Together]] = {}
    for (name, media_id), times in sorted(moments.items()):
        a = files[media_id]
        spans = _moments(sorted(set(times)), window) if a.kind == "video" else []
        companions.setdefault(name, []).append(Together(a.path, a.sha256, a.kind, spans))
    ordered = sorted(companions.items(), key=lambda kv: (-len(kv[1]), kv[0]))
    return Cooccurrence(
        target,
        case,
        window,
        len({(a.media_id, a.frame_index if a.kind == "video" else 0) for a in mine}),
        [
            Companion(
                "cluster" if name.startswith("cluster:") else "person",
                name,
                int(name.split(":", 1)[1]) if name.startswith("cluster:") else None,
                media,
            )
            for name, media in ordered
        ],
        in_force.threshold,
    )


def _subject(subject: str, people: set[str], present: set[str]) -> str:
    """A person's name, or "cluster:ID" (also written #ID, or a bare number no person has)."""
    text = subject.strip()
    if text in people:
        return text
    number = text.removeprefix("cluster:").removeprefix("#")
    if number.isdigit():
        key = f"cluster:{int(number)}"
        if key in present:
            return key
        raise WorkspaceError(f"no open cluster {number} with faces here")
    raise WorkspaceError(f"no person named {text!r} in the gallery (a cluster is cluster:ID)")


def _moments(times: list[float], window: float) -> list[float]:
    """The first time of each run of times no more than `window` apart."""
    out: list[float] = []
    for previous, t in zip([None, *times], times, strict=False):
        if previous is None or t - previous > window:
            out.append(t)
    return out
