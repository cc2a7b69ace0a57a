"""Between the vision layer's faces and the store's rows, both ways, in one place."""

from __future__ import annotations

import numpy as np

from facesift.store import repository as repo
from facesift.store.schema import Face as FaceRow
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Face
from facesift.vision.quality import Quality


def face_row(
    face: Face, engine: FaceEngine, frame_index: int = 0, timestamp: float | None = None
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
        model_name=engine.model_name,
        model_sha256=engine.model_sha256,
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
