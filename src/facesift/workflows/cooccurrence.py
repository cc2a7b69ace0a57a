"""Co-occurrence: who appears together with a person or an unknown-person cluster, in the
same photo or within seconds of each other in a video, and in which files."""

from __future__ import annotations

from facesift.errors import NotFound, WorkspaceError
from facesift.store.records import Sighting
from facesift.store.store import Tx
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.discovery import scope_of, unidentified
from facesift.workflows.results import Companion, Cooccurrence, Together

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
    unknown = unidentified(ctx, case, in_force)

    def read(tx: Tx) -> tuple[list[Sighting], dict[int, tuple[str, int]], set[str]]:
        scope = scope_of(tx, case)
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
        raise NotFound(f"no open cluster {number} with faces here")
    raise NotFound(f"no person named {text!r} in the gallery (a cluster is cluster:ID)")


def _moments(times: list[float], window: float) -> list[float]:
    """The first time of each run of times no more than `window` apart."""
    out: list[float] = []
    for previous, t in zip([None, *times], times, strict=False):
        if previous is None or t - previous > window:
            out.append(t)
    return out
