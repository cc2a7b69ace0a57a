"""Between the vision layer's faces and the store's rows, both ways, in one place."""

from __future__ import annotations

import numpy as np

from facesift.store import repository as repo
from facesift.store.records import ModelKey, StoredFace
from facesift.store.schema import Face as FaceRow
from facesift.vision.face import Face
from facesift.vision.quality import Quality


def face_row(
    face: Face, model: ModelKey, frame_index: int = 0, timestamp: float | None = None
) -> FaceRow:
    """A row for `face`, with the model that embedded it (and its frame, in a video)."""
    x1, y1, x2, y2 = face.bbox
    return FaceRow(
        frame_index=frame_index,
        timestamp=timestamp,
        x1=x1,
        y1=y1,
        x2=x2,
        y2=y2,
        landmarks=face.landmarks.round(2).tolist(),
        det_score=face.det_score,
        detector=face.detector,
        face_px=face.quality.face_px,
        sharpness=face.quality.sharpness,
        quality=face.quality.score,
        embedding=repo.encode_vector(face.embedding),
        model_name=model.name,
        model_sha256=model.sha256,
        low_res_embedding=None
        if face.low_res_embedding is None
        else repo.encode_vector(face.low_res_embedding),
    )


def face_from_row(row: FaceRow) -> Face:
    """The stored face as the vision layer knows it (without its chip)."""
    return Face(
        bbox=row.bbox,
        landmarks=np.asarray(row.landmarks, dtype=np.float32),
        det_score=row.det_score,
        detector=row.detector,
        quality=Quality(row.face_px, row.sharpness, row.quality),
        embedding=repo.decode_vector(row.embedding),
    )


def stored_face(
    row: FaceRow, *, with_track: bool = False, with_template_flag: bool = False
) -> StoredFace:
    """The store's value for a face row; `with_track` reads its track's number and
    `with_template_flag` whether it has a low-resolution template (each one more query)."""
    return StoredFace(
        id=row.id,
        media_id=row.media_id,
        face=face_from_row(row),
        frame_index=row.frame_index,
        timestamp=row.timestamp,
        model=ModelKey(row.model_name, row.model_sha256),
        path=row.media.path,
        sha256=row.media.sha256,
        track_id=row.track_id,
        track=row.track.number if with_track and row.track is not None else None,
        person_id=row.person_id,
        person=row.person.name if row.person_id is not None and row.person else None,
        has_low_res_template=row.low_res_embedding is not None if with_template_flag else None,
    )
