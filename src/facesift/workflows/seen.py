"""Seen before: where else does this face appear? A probe's faces against every stored face
(scanned or enrolled, every case), not just the gallery's people.

The stored faces of the workspace's model are kept in a vector index of their own ("faces"
beside the gallery's), derived from the store like the gallery's: faces added since it was
saved are added to it, and it is rebuilt when faces were removed; above
facesift.match.gallery.EXACT_MAX faces it is an HNSW graph, or a Milvus collection where the
workspace keeps its indexes there. Each hit is one stored face with its file, frame and
time, the posts or captures the file came from, and its score's estimated false-match rate: a
lead to review, like every candidate.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from facesift.match.gallery import PeopleIndex
from facesift.media.image import ImageSource, load_image
from facesift.store.store import Tx
from facesift.store.vectors import GalleryVectors
from facesift.workflows.calibration import policy
from facesift.workflows.context import Context
from facesift.workflows.discovery import dated_faces
from facesift.workflows.identify import decision, kept_index
from facesift.workflows.results import SeenBefore, SeenFace, SeenHit

FACES_INDEX = "faces"


def seen_before(ctx: Context, image: ImageSource, *, top: int = 20) -> SeenBefore:
    """Each face of `image` with the `top` most similar stored appearances (a photo's face,
    or a video track by its most similar face), best first."""
    decoded = load_image(image)
    faces = ctx.engine.analyze_pixels(decoded.pixels, thorough=True)
    in_force = policy(ctx)
    index = ctx.store.read(lambda tx: _faces_index(ctx, tx))
    vectors = np.array([f.embedding for f in faces], np.float32).reshape(len(faces), -1)
    hits = index.search(vectors, top) if len(faces) else []
    found = ctx.store.read(
        lambda tx: dated_faces(tx, sorted({h.face_id for row in hits for h in row}))
    )
    out = []
    for face, row in zip(faces, hits, strict=True):
        sightings = []
        for hit in row:
            stored = found.get(hit.face_id)
            if stored is None:  # removed since the index was read
                continue
            fmr, band = in_force.evidence(hit.score)
            where = stored.source
            sightings.append(
                SeenHit(
                    face_id=hit.face_id,
                    score=hit.score,
                    fmr=fmr,
                    band=band,
                    path=where.path or "",
                    sha256=where.sha256 or "",
                    frame_index=where.frame_index or 0,
                    timestamp=where.timestamp,
                    track_id=stored.track_id,
                    media_sources=where.media_sources,
                )
            )
        out.append(SeenFace(face.bbox, face.quality, sightings))
    probe = str(image) if isinstance(image, str | Path) else "<in memory>"
    result = SeenBefore(probe, len(index), out, decision(ctx, in_force))
    ctx.store.transaction(
        lambda tx: tx.audit(
            ctx.actor,
            "seen_before",
            inputs={"probe": probe, "top": top},
            details={
                "faces": len(out),
                "leads": [[s.face_id for s in f.sightings] for f in out],
            },
        )
    )
    return result


def _faces_index(ctx: Context, tx: Tx) -> PeopleIndex:
    """The index of every stored face of the workspace's model, rebuilt when faces were added
    or removed. Its "people" are appearances: a photo's face, or a video track (as -track
    id), so that a search returns a track once, by its most similar face."""
    stamp: dict[str, object] = {
        "faces_stamp": list(tx.faces_stamp()),
        "model_name": ctx.model.name,
        "model_sha256": ctx.model.sha256,
    }

    def vectors() -> GalleryVectors:
        # By id: a scan's new faces come last, so the kept index grows instead of being rebuilt.
        rows = sorted(tx.clusters.sightings(None, ctx.model.sha256), key=lambda r: r.id)
        ids = np.array([r.id for r in rows], np.int64)
        appearances = np.array([-r.track_id if r.track_id else r.id for r in rows], np.int64)
        matrix = np.array([r.embedding for r in rows], np.float32).reshape(len(rows), -1)
        return ids, appearances, matrix

    return kept_index(ctx, f"{FACES_INDEX}.{ctx.model.name}", stamp, vectors)
