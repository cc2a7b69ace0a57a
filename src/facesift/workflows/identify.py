"""Identification: faces against the gallery (1:N), and two photos against each other (1:1).

Every search ranks gallery people with facesift.match.gallery.search_people, routing small
probe faces to the low-resolution templates (facesift.match.policy.uses_low_res_templates),
and judges each score by the decision policy in force (facesift.workflows.calibration.policy):
the same function `eval identify` measures.
"""

from __future__ import annotations

import dataclasses
import hashlib
import threading
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import MediaError, NotFound
from facesift.match.decision import CALIBRATED_NOTE, SCORE_NOTE
from facesift.match.gallery import PeopleIndex, PersonHit, search_people
from facesift.match.policy import DecisionPolicy, uses_low_res_templates, verdict
from facesift.match.tracking import FrameFaces, Track, Tracker
from facesift.media.files import is_video, sha256_file
from facesift.media.image import ImageSource, load_image
from facesift.media.sources import MediaSource
from facesift.media.video import DEFAULT_SAMPLE_FPS, DecodeStatus, probe_video
from facesift.store.audit import canonical_json
from facesift.store.records import DecisionEntry, PersonEntry, StoredFace, StoredTrack
from facesift.store.store import Tx
from facesift.store.vectors import GalleryVectors
from facesift.vision.face import Face, box_iou, choose_primary
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.results import (
    BestShot,
    Candidate,
    Decision,
    FaceMatches,
    IdentifyResult,
    SearchResult,
    Source,
    TrackMatches,
    Verification,
)
from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY, track_video


def gallery(ctx: Context, *, low_res: bool = False) -> PeopleIndex:
    """The index of enrolled faces (or of their low-resolution templates), kept while the
    gallery is unchanged and rebuilt from the store when it changed."""

    def current(tx: Tx) -> PeopleIndex:
        stamp: dict[str, object] = {
            "gallery_version": tx.gallery_version(),
            "model_name": ctx.model.name,
            "model_sha256": ctx.model.sha256,
            "low_res_templates": low_res,
        }
        name = ctx.model.name + (".low-res" if low_res else "")
        return kept_index(ctx, name, stamp, lambda: tx.gallery_vectors(ctx.model, low_res))

    return ctx.store.read(current)


def kept_index(
    ctx: Context,
    name: str,
    stamp: dict[str, object],
    vectors: Callable[[], GalleryVectors],
) -> PeopleIndex:
    """The vector index `name` as built from `stamp`: kept by the context while the stamp
    holds, so that its vectors are read from the store only when they changed."""
    cached = ctx.galleries.get(name)
    if cached is not None and cached[0] == stamp:
        return cached[1]
    index = ctx.indexes.open(name, stamp, vectors)
    ctx.galleries[name] = (stamp, index)
    return index


def decision(ctx: Context, in_force: DecisionPolicy) -> Decision:
    """How scores are judged (the policy's threshold, calibration and warnings)."""
    note = CALIBRATED_NOTE if in_force.calibrated else SCORE_NOTE
    return Decision(
        in_force.threshold,
        ctx.engine.describe(),
        note,
        in_force.describe(),
        in_force.warnings,
    )


def candidates(
    ctx: Context,
    vectors: np.ndarray,
    top: int,
    face_px: Iterable[float],
    in_force: DecisionPolicy,
) -> list[list[Candidate]]:
    """Ranked people for each probe vector, each judged by the policy; probes narrower than
    LOW_RES_PROBE_PX are matched against the low-resolution templates."""
    small = np.array([uses_low_res_templates(px) for px in face_px], dtype=bool)
    standard = gallery(ctx)
    low_res = gallery(ctx, low_res=True) if small.any() else standard
    hits = search_people(standard, low_res, vectors, small, top)
    ids = sorted({h.person_id for row in hits for h in row})
    people = ctx.store.read(lambda tx: tx.people_by_id(ids))
    return [
        [_candidate(h, people, in_force, bool(low)) for h in row]
        for row, low in zip(hits, small, strict=True)
    ]


def search(
    ctx: Context,
    image: ImageSource,
    *,
    top: int = 5,
    fps: float | None = DEFAULT_SAMPLE_FPS,
    full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
    workers: int | None = None,
) -> SearchResult:
    """Every face in `image` with its `top` ranked gallery candidates.

    For a video (a path with a video extension) also every track, matched by its template;
    frames are sampled at `fps` and analysed by `workers` processes. Nothing is stored.
    """
    if isinstance(image, str | Path) and is_video(image):
        return _search_video(ctx, Path(image), top, (fps, full_scan_every), workers)
    decoded = load_image(image)
    faces = ctx.engine.analyze_pixels(decoded.pixels, thorough=True)
    in_force = policy(ctx)
    vectors = np.array([f.embedding for f in faces])
    ranked = candidates(ctx, vectors, top, [f.quality.face_px for f in faces], in_force)
    path = Path(image) if isinstance(image, str | Path) else None
    sha = sha256_file(path) if path is not None else None
    matches = [
        FaceMatches(f.bbox, f.det_score, f.quality, c) for f, c in zip(faces, ranked, strict=True)
    ]
    result = SearchResult(
        image=str(path) if path is not None else "<in memory>",
        sha256=sha,
        width=decoded.width,
        height=decoded.height,
        faces=matches if sha is None else _with_stored_reviews(ctx, sha, matches),
        decision=decision(ctx, in_force),
        gallery_people=gallery(ctx).people,
        media_sources=_seen_in(ctx, sha),
    )
    if result.sha256 is not None:
        probe = {"sha256": result.sha256, "path": result.image}
    elif isinstance(image, bytes):
        probe = {"sha256": hashlib.sha256(image).hexdigest()}
    else:  # pixels handed over in memory: their hash stands for the file's
        probe = {"pixels_sha256": hashlib.sha256(decoded.pixels.tobytes()).hexdigest()}
    _audit_search(ctx, "search", probe, result.to_dict(), result.faces, [])
    return result


def _track_video(
    ctx: Context, path: Path, sampling: tuple[float | None, float], workers: int | None
) -> tuple[list[FrameFaces], Tracker, DecodeStatus]:
    """A video's sampled frames' faces and tracks, nothing stored."""
    fps, full_scan_every = sampling
    status, tracker = DecodeStatus(), Tracker()
    with ctx.executor(ctx.engine, workers or ctx.executor.default_workers(ctx.engine)) as pool:
        frames = list(
            track_video(
                pool,
                path,
                tracker,
                fps=fps,
                status=status,
                full_scan_every=full_scan_every,
                min_face_px=ctx.engine.min_face_px,
            )
        )
    return frames, tracker, status


def _search_video(
    ctx: Context, path: Path, top: int, sampling: tuple[float | None, float], workers: int | None
) -> SearchResult:
    info = probe_video(path)
    frames, tracker, status = _track_video(ctx, path, sampling, workers)
    sightings = [s for f in frames for s in f.sightings]
    in_force = policy(ctx)
    face_candidates = candidates(
        ctx,
        np.array([s.face.embedding for s in sightings], dtype=np.float32),
        top,
        [s.face.quality.face_px for s in sightings],
        in_force,
    )
    track_candidates = candidates(
        ctx,
        np.array([t.template() for t in tracker.tracks], dtype=np.float32),
        top,
        [t.best(1)[0].face.quality.face_px for t in tracker.tracks],
        in_force,
    )
    faces = [
        FaceMatches(
            s.face.bbox,
            s.face.det_score,
            s.face.quality,
            c,
            source=Source(frame_index=s.frame_index, timestamp=round(s.timestamp, 3)),
        )
        for s, c in zip(sightings, face_candidates, strict=True)
    ]
    tracks = [_live_track(t, c) for t, c in zip(tracker.tracks, track_candidates, strict=True)]
    fps, full_scan_every = sampling
    sha = sha256_file(path)
    result = SearchResult(
        image=str(path),
        sha256=sha,
        media_sources=_seen_in(ctx, sha),
        width=info.width,
        height=info.height,
        faces=faces,
        decision=decision(ctx, in_force),
        gallery_people=gallery(ctx).people,
        tracks=tracks,
        video={
            **info.to_dict(),
            "sample_fps": fps,
            "full_scan_every": full_scan_every,
            "frames_decoded": status.frames_decoded,
            "seconds_decoded": status.last_timestamp,
            "error": status.error,
        },
    )
    probe = {"sha256": result.sha256, "path": str(path)}
    _audit_search(ctx, "search", probe, result.to_dict(), faces, tracks)
    return result


def identify(ctx: Context, *, case: str | None = None, top: int = 5) -> IdentifyResult:
    """Every stored, not enrolled face (of one case, or all) against the gallery: photo
    faces one by one, video faces by track (matched by the track's template), each with the
    review decisions made on it.

    The candidates are kept (in the context) until faces, the gallery, the case's files or
    the policy change, so that a review queue reloaded after each decision costs little more
    than reading the decisions."""
    in_force = policy(ctx, case)
    key = (case, top, ctx.model.sha256, repr(in_force.describe()), in_force.threshold)

    def stamp(tx: Tx) -> tuple[object, ...]:
        if case is not None and not tx.case_exists(case):
            raise NotFound(f"no case named {case!r} in this workspace")
        return (tx.faces_stamp(), tx.case_media_count(case), tx.sources_stamp())

    now = ctx.store.read(stamp)
    cached = ctx.identified.get(key)
    if cached is not None and cached[0] == now:
        faces, tracks = cached[1]
    else:
        faces, tracks = _identified(ctx, case, top, in_force)
        with _KEEPING:  # contexts of one server share the dict across request threads
            ctx.identified.pop(key, None)
            ctx.identified[key] = (now, (faces, tracks))
            while len(ctx.identified) > IDENTIFY_CACHE:
                ctx.identified.pop(next(iter(ctx.identified)))
    reviewed = ctx.store.read(
        lambda tx: tx.reviews.of([f.face_id for f in faces if f.face_id is not None],
                                 [t.track_id for t in tracks if t.track_id is not None])
    )  # fmt: skip
    on_face: dict[int, list[DecisionEntry]] = {}
    on_track: dict[int, list[DecisionEntry]] = {}
    for entry in reviewed:
        if entry.face_id is not None:
            on_face.setdefault(entry.face_id, []).append(entry)
        if entry.track_id is not None:
            on_track.setdefault(entry.track_id, []).append(entry)
    if on_face:
        faces = [
            dataclasses.replace(f, decisions=on_face[f.face_id]) if f.face_id in on_face else f
            for f in faces
        ]
    if on_track:
        tracks = [
            dataclasses.replace(t, decisions=on_track[t.track_id]) if t.track_id in on_track else t
            for t in tracks
        ]
    result = IdentifyResult(case, faces, decision(ctx, in_force), gallery(ctx).people, tracks)
    _audit_search(ctx, "identify", {"case": case}, result.to_dict(), faces, tracks)
    return result


# How many identify results (by case, top and policy) a context keeps.
IDENTIFY_CACHE = 4
_KEEPING = threading.Lock()


def _identified(
    ctx: Context, case: str | None, top: int, in_force: DecisionPolicy
) -> tuple[list[FaceMatches], list[TrackMatches]]:
    """The faces and tracks of `identify`, without decisions."""

    def stored(
        tx: Tx,
    ) -> tuple[
        list[StoredFace], list[StoredTrack], dict[int, list[int]], dict[str, list[MediaSource]]
    ]:
        tracks = tx.video_tracks(case, ctx.model)
        faces = tx.unenrolled_faces(case, ctx.model)
        files = {r.sha256 for r in faces} | {t.sha256 for t in tracks}
        return (
            faces,
            tracks,
            tx.best_shot_ids([t.id for t in tracks]),
            tx.sources_by_sha256(sorted(files)),
        )

    rows, track_rows, best_faces, seen = ctx.store.read(stored)
    vectors = np.array([r.face.embedding for r in rows], dtype=np.float32)
    ranked = candidates(ctx, vectors, top, [r.face.quality.face_px for r in rows], in_force)
    faces = [
        FaceMatches(
            bbox=r.face.bbox,
            det_score=r.face.det_score,
            quality=r.face.quality,
            candidates=c,
            face_id=r.id,
            source=Source(
                r.path, r.sha256, r.frame_index, r.timestamp, tuple(seen.get(r.sha256, ()))
            ),
        )
        for r, c in zip(rows, ranked, strict=True)
    ]
    templates = np.array([t.template for t in track_rows], np.float32)
    track_px = [t.best_face.face.quality.face_px if t.best_face else np.inf for t in track_rows]
    tracks = [
        _stored_track(t, c, best_faces.get(t.id, []), [], tuple(seen.get(t.sha256, ())))
        for t, c in zip(
            track_rows, candidates(ctx, templates, top, track_px, in_force), strict=True
        )
    ]
    return faces, tracks


def verify(ctx: Context, image_a: ImageSource, image_b: ImageSource) -> Verification:
    """Whether the main faces of two photos are the same person, with the score."""
    notes: list[str] = []
    chosen: list[Face] = []
    counts: list[int] = []
    for label, image in (("A", image_a), ("B", image_b)):
        decoded = load_image(image)
        faces = ctx.engine.analyze_pixels(decoded.pixels, thorough=True)
        face, why = choose_primary(faces, decoded.pixels.shape, "largest")
        if face is None and faces:  # ambiguous: still compare, but say so
            face, why = faces[0], why.replace("ambiguous, crop the photo", "took the largest; crop")
        if face is None:
            raise MediaError(
                image if isinstance(image, str | Path) else None, f"no face found in image {label}"
            )
        if len(faces) > 1:
            notes.append(f"image {label}: {why}")
        chosen.append(face)
        counts.append(len(faces))
    score = float(ctx.engine.similarity(chosen[0].embedding[None], chosen[1].embedding[None])[0, 0])
    in_force = policy(ctx)
    fmr, strength = in_force.evidence(score)
    result = Verification(
        same_person=score >= in_force.threshold,
        score=score,
        fmr=fmr,
        band=strength,
        verdict=verdict(strength),
        fmr_is_bound=in_force.is_bound(fmr),
        faces_a=counts[0],
        faces_b=counts[1],
        bbox_a=chosen[0].bbox,
        bbox_b=chosen[1].bbox,
        notes=notes,
        decision=decision(ctx, in_force),
    )
    probes = {"a": _probe(image_a), "b": _probe(image_b)}
    shown = result.to_dict()
    details = {k: shown.get(k) for k in ("score", "fmr", "band", "verdict", "same_person")}
    ctx.store.transaction(
        lambda tx: tx.audit(
            ctx.actor, "verify", inputs=probes, details={**details, "model": ctx.model.name}
        )
    )
    return result


def _with_stored_reviews(ctx: Context, sha: str, faces: list[FaceMatches]) -> list[FaceMatches]:
    """A probe that is a stored photo: each face found again (same place) gets its stored id
    and the review decisions made on it."""

    def read(tx: Tx) -> list[FaceMatches]:
        media = tx.find_media(sha)
        if media is None or media.kind != "image" or not media.faces:
            return faces
        reviewed = tx.reviews.of([f.id for f in media.faces])
        out = []
        for face in faces:
            best = max(media.faces, key=lambda s: box_iou(s.face.bbox, face.bbox))
            if box_iou(best.face.bbox, face.bbox) < 0.5:
                out.append(face)
                continue
            mine = [d for d in reviewed if d.face_id == best.id]
            out.append(dataclasses.replace(face, face_id=best.id, decisions=mine))
        return out

    return ctx.store.read(read)


# A search's audit entry lists at most this many leads (candidates above the threshold); the
# hash of the whole result stands for the rest.
AUDITED_LEADS = 200


def _audit_search(
    ctx: Context,
    action: str,
    probe: dict[str, Any],
    shown: dict[str, Any],
    faces: list[FaceMatches],
    tracks: list[TrackMatches],
) -> None:
    """Record a search: who, with which probe, and what it showed (the leads, and the
    SHA-256 of the whole result as returned, to match a saved copy against)."""
    leads = [
        {"face": f.face_id, "person": c.person, "score": round(c.score, 4), "fmr": c.fmr}
        for f in faces
        for c in f.candidates
        if c.above_threshold
    ] + [
        {"track": t.track_id or t.number, "person": c.person, "score": round(c.score, 4),
         "fmr": c.fmr}
        for t in tracks
        for c in t.candidates
        if c.above_threshold
    ]  # fmt: skip
    details = {
        "faces": len(faces),
        "tracks": len(tracks),
        "leads": leads[:AUDITED_LEADS],
        "leads_total": len(leads),
        "result_sha256": hashlib.sha256(canonical_json(shown).encode()).hexdigest(),
        "threshold": shown["decision"]["threshold"],
        "model": ctx.model.name,
        "model_sha256": ctx.model.sha256,
    }
    ctx.store.transaction(lambda tx: tx.audit(ctx.actor, action, inputs=probe, details=details))


def _probe(image: ImageSource) -> dict[str, Any]:
    """How an audit entry names a probe image: its file's SHA-256 (and path)."""
    if isinstance(image, str | Path):
        return {"sha256": sha256_file(Path(image)), "path": str(image)}
    if isinstance(image, bytes):
        return {"sha256": hashlib.sha256(image).hexdigest()}
    return {"pixels_sha256": hashlib.sha256(load_image(image).pixels.tobytes()).hexdigest()}


def _seen_in(ctx: Context, sha256: str | None) -> tuple[MediaSource, ...]:
    """The posts and captures a scan recorded for this file, if it is stored."""
    if sha256 is None:
        return ()
    return tuple(ctx.store.read(lambda tx: tx.sources_by_sha256([sha256])).get(sha256, ()))


def _live_track(track: Track, ranked: list[Candidate]) -> TrackMatches:
    """A track found in a video searched now (nothing stored)."""
    best = track.best(1)[0]
    return TrackMatches(
        number=track.id,
        start=track.start,
        end=track.end,
        start_frame=track.sightings[0].frame_index,
        end_frame=track.last.frame_index,
        faces=len(track.sightings),
        best_shot=BestShot(
            frame_index=best.frame_index,
            timestamp=best.timestamp,
            bbox=best.face.bbox,
            quality=best.face.quality.score,
            face_px=best.face.quality.face_px,
        ),
        candidates=ranked,
    )


def _stored_track(
    track: StoredTrack,
    ranked: list[Candidate],
    best: list[int],
    reviewed: list[DecisionEntry],
    seen_in: tuple[MediaSource, ...] = (),
) -> TrackMatches:
    shot = track.best_face
    return TrackMatches(
        number=track.number,
        start=track.start,
        end=track.end,
        start_frame=track.start_frame,
        end_frame=track.end_frame,
        faces=track.face_count,
        best_shot=None
        if shot is None
        else BestShot(
            frame_index=shot.frame_index,
            timestamp=shot.timestamp,
            bbox=shot.face.bbox,
            quality=shot.face.quality.score,
            face_px=shot.face.quality.face_px,
            face_id=shot.id,
        ),
        candidates=ranked,
        track_id=track.id,
        source=Source(track.path, track.sha256, media_sources=seen_in),
        best_faces=best,
        decisions=reviewed,
    )


def _candidate(
    hit: PersonHit, people: dict[int, PersonEntry], in_force: DecisionPolicy, low_res: bool
) -> Candidate:
    person = people[hit.person_id]
    fmr, strength = in_force.evidence(hit.score, low_res)
    threshold = in_force.low_res_threshold if low_res else in_force.threshold
    return Candidate(
        person=person.name,
        person_id=person.id,
        score=hit.score,
        above_threshold=hit.score >= threshold,
        best_face_id=hit.face_id,
        attributes=dict(person.attributes),
        fmr=fmr,
        band=strength,
        fmr_is_bound=in_force.is_bound(fmr, low_res),
    )
