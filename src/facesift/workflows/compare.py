"""Forensic comparison: a probe face and a reference face (a gallery person's), both aligned
to the same landmarks at the same size, with the originals they come from, their score and
what it is worth, and the provenance an examiner cites.

The faces are cut from the stored files again (photo, or the video frame), not from the
small chips kept for recognition, so that the comparison shows the evidence as it is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from facesift.errors import NotFound, WorkspaceError
from facesift.match.policy import verdict
from facesift.media.sources import MediaSource
from facesift.store.records import StoredFace
from facesift.store.store import Tx
from facesift.vision.align import align_for_comparison
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.evidence import original_pixels
from facesift.workflows.identify import candidates, decision, gallery
from facesift.workflows.results import Decision, Source

COMPARISON_SIZE = 320


@dataclass(frozen=True, eq=False)
class ComparedFace:
    face_id: int
    chip: np.ndarray  # size×size RGB, aligned
    landmarks: np.ndarray  # the 5 landmarks in the chip
    original: np.ndarray  # the photo or frame it is in
    bbox: tuple[float, float, float, float]
    source: Source
    person: str | None
    face_px: float
    quality: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "face_id": self.face_id,
            "bbox": [round(v, 1) for v in self.bbox],
            "source": self.source.to_dict(),
            "person": self.person,
            "face_px": round(self.face_px, 1),
            "quality": round(self.quality, 3),
            "landmarks": self.landmarks.round(1).tolist(),
        }


@dataclass(frozen=True, eq=False)
class Comparison:
    probe: ComparedFace
    reference: ComparedFace
    score: float
    fmr: float | None
    band: str
    verdict: str
    above_threshold: bool
    decision: Decision

    def to_dict(self) -> dict[str, Any]:
        return {
            "probe": self.probe.to_dict(),
            "reference": self.reference.to_dict(),
            "score": round(self.score, 4),
            "fmr": self.fmr,
            "band": self.band,
            "verdict": self.verdict,
            "above_threshold": self.above_threshold,
            "decision": self.decision.to_dict(),
        }


def compare(
    ctx: Context,
    probe_id: int,
    *,
    reference_id: int | None = None,
    person: str | None = None,
    case: str | None = None,
    size: int = COMPARISON_SIZE,
    aligned: dict[int, ComparedFace] | None = None,
) -> Comparison:
    """Compare stored face `probe_id` with stored face `reference_id`, or with the enrolled
    face of `person` that matches it best. `aligned` keeps faces aligned before (at this
    size) for the next call: a report shows one gallery face beside many."""
    kept = {} if aligned is None else aligned
    probe = _stored(ctx, probe_id)
    if reference_id is None:
        if person is None:
            raise WorkspaceError("name a reference face or a gallery person to compare with")
        reference_id = _best_face_of(ctx, probe, person, case)
    reference = _stored(ctx, reference_id)
    score = float(
        ctx.engine.similarity(probe.face.embedding[None], reference.face.embedding[None])[0, 0]
    )
    in_force = policy(ctx, case)
    fmr, band = in_force.evidence(score)
    seen = ctx.store.read(lambda tx: tx.sources_by_sha256([probe.sha256, reference.sha256]))
    for face in (probe, reference):
        if face.id not in kept:
            kept[face.id] = _aligned(face, size, tuple(seen.get(face.sha256, ())))
    return Comparison(
        probe=kept[probe.id],
        reference=kept[reference.id],
        score=score,
        fmr=fmr,
        band=band,
        verdict=verdict(band),
        above_threshold=score >= in_force.threshold,
        decision=decision(ctx, in_force),
    )


def _stored(ctx: Context, face_id: int) -> StoredFace:
    def read(tx: Tx) -> StoredFace:
        face = tx.stored_face(face_id)
        if face is None:
            raise NotFound(f"no face {face_id} in this workspace")
        return face

    return ctx.store.read(read)


def _best_face_of(ctx: Context, probe: StoredFace, person: str, case: str | None) -> int:
    everyone = max(1, gallery(ctx).people)
    ranked = candidates(
        ctx, probe.face.embedding[None], everyone, [probe.face.quality.face_px], policy(ctx, case)
    )[0]
    for candidate in ranked:
        if candidate.person == person and candidate.best_face_id is not None:
            return candidate.best_face_id
    raise WorkspaceError(f"{person!r} is not a person of the gallery")


def _aligned(face: StoredFace, size: int, seen_in: tuple[MediaSource, ...] = ()) -> ComparedFace:
    original = original_pixels(face)
    chip, points = align_for_comparison(original, face.face.landmarks, size)
    return ComparedFace(
        face_id=face.id,
        chip=chip,
        landmarks=points,
        original=original,
        bbox=face.face.bbox,
        source=Source(face.path, face.sha256, face.frame_index, face.timestamp, seen_in),
        person=face.person,
        face_px=face.face.quality.face_px,
        quality=face.face.quality.score,
    )
