"""Analysts' corrections of unknown-person clusters: merge, split, name, mark and undo, each
one transaction recorded with who made it and the exact state it replaced (so that undo
restores it, and refuses while a later change builds on it)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from facesift.errors import MediaError, NotFound, WorkspaceError
from facesift.media.files import sha256_file
from facesift.media.image import load_image
from facesift.store.clusters import ClusterState
from facesift.store.records import ClusterEntry, StoredFace
from facesift.store.store import Tx
from facesift.workflows.context import Context
from facesift.workflows.discovery import Scope, cluster_entry, cluster_views, scope_of
from facesift.workflows.results import ClusterOperationResult

MARKS = ("ignored", "not_a_face", "open")


def _change(
    ctx: Context,
    case: str | None,
    actor: str,
    action: str,
    plan: Callable[[Tx, Scope], tuple[str, ClusterState, dict[str, Any]]],
) -> ClusterOperationResult:
    """Run `plan(tx, scope) -> (summary, after, details)` in one transaction, recording the
    state it replaced; the clusters it touched as they are now."""
    if not actor.strip():
        raise WorkspaceError("say who makes the change (an actor name)")

    def write(tx: Tx) -> tuple[int, str, list[int]]:
        scope = scope_of(tx, case)
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
        tx.audit(
            actor,
            f"cluster.{action}",
            objects={"operation": op, "clusters": sorted(after.clusters), "case": case},
            details={"summary": summary, **details},
        )
        return op, summary, [c for c, a in after.clusters.items() if a is not None]

    op, summary, touched = ctx.store.transaction(write)
    views = ctx.store.read(
        lambda tx: cluster_views(tx, tx.clusters.entries(scope_of(tx, case).id, touched))
    )
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

    def plan(tx: Tx, scope: Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        if into == other:
            raise WorkspaceError(f"cannot merge cluster {into} into itself")
        a, b = cluster_entry(tx, scope, into), cluster_entry(tx, scope, other)
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

    def plan(tx: Tx, scope: Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        entry = cluster_entry(tx, scope, cluster_id)
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

    def plan(tx: Tx, scope: Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        entry = cluster_entry(tx, scope, cluster_id)
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
            lambda tx: tx.clusters.faces(
                list(cluster_entry(tx, scope_of(tx, case), cluster_id).face_ids)
            )
        ),
    )

    def plan(tx: Tx, scope: Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        entry = cluster_entry(tx, scope, cluster_id)
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

    def plan(tx: Tx, scope: Scope) -> tuple[str, ClusterState, dict[str, Any]]:
        found = tx.clusters.operation(scope.id, operation_id)
        if found is None:
            raise NotFound(f"no cluster operation {operation_id} here")
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
