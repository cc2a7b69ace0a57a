"""Evidence: the exact video frame to cite, and the kept crops of a track's best shots."""

from __future__ import annotations

import io
import os
import threading
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facesift.errors import NotFound, WorkspaceError
from facesift.media.draw import draw_boxes
from facesift.media.files import sha256_file
from facesift.media.image import encode_jpeg, load_image
from facesift.media.video import read_frame_at, read_frame_index
from facesift.store.records import StoredFace
from facesift.store.store import Tx
from facesift.workflows.context import Context
from facesift.workflows.results import EvidenceFrame, FrameFace


def evidence_frame(
    ctx: Context, path: str | Path, *, seconds: float | None = None, index: int | None = None
) -> EvidenceFrame:
    """The video frame shown at `seconds` (or number `index`) and the faces in it.

    When the video was scanned into this workspace the faces are the stored ones (with
    their ids, tracks and people) for that exact frame; otherwise they are detected now.
    """
    path = Path(path)
    if (seconds is None) == (index is None):
        raise WorkspaceError("give either a time in seconds or a frame index")
    if seconds is not None:
        frame = read_frame_at(path, seconds)
    else:
        assert index is not None
        frame = read_frame_index(path, index)
    sha = sha256_file(path)

    def stored(tx: Tx) -> list[StoredFace] | None:
        media = tx.media_kind(sha)
        if media is None or media[1] != "video":
            return None
        return tx.frame_faces(media[0], frame.index)

    faces = ctx.store.read(stored)
    if faces is not None:
        found = [FrameFace(f.face.bbox, True, f.id, f.track, f.person) for f in faces]
    else:
        found = [FrameFace(f.bbox, False) for f in ctx.engine.analyze_pixels(frame.pixels)]
    return EvidenceFrame(str(path), sha, frame, found)


def face_crop(ctx: Context, face_id: int) -> bytes | None:
    """The JPEG crop (aligned face chip) kept for a video track's best shot, if any."""
    return ctx.store.read(lambda tx: tx.face_crop(face_id))


def record_export(
    ctx: Context, what: str, *, sha256: str | None, out: str | None, details: dict[str, Any]
) -> None:
    """Audit an export of evidence (a frame, an annotated photo, a report): what, from which
    file, to where."""
    ctx.store.transaction(
        lambda tx: tx.audit(
            ctx.actor,
            f"export.{what}",
            inputs={"sha256": sha256},
            details={"out": out, **details},
        )
    )


def original_pixels(face: StoredFace) -> np.ndarray:
    """The photo, or the video frame, a stored face was found in, decoded again."""
    if face.timestamp is not None:
        return read_frame_index(Path(face.path), face.frame_index).pixels
    return load_image(face.path).pixels


def _stored(ctx: Context, face_id: int) -> StoredFace:
    face = ctx.store.read(lambda tx: tx.stored_face(face_id))
    if face is None:
        raise NotFound(f"no face {face_id} in this workspace")
    return face


def face_image(ctx: Context, face_id: int, margin: float = 0.25) -> bytes:
    """A JPEG of one stored face: its kept crop (video best shots), else cut from its photo
    with `margin` (a fraction of the box) around the box."""
    crop = face_crop(ctx, face_id)
    if crop is not None:
        return crop
    face = _stored(ctx, face_id)
    pixels = original_pixels(face)
    x0, y0, x1, y1 = face.face.bbox
    pad_x, pad_y = (x1 - x0) * margin, (y1 - y0) * margin
    height, width = pixels.shape[:2]
    top, bottom = max(0, int(y0 - pad_y)), min(height, int(y1 + pad_y) + 1)
    left, right = max(0, int(x0 - pad_x)), min(width, int(x1 + pad_x) + 1)
    return encode_jpeg(pixels[top:bottom, left:right])


def face_thumbnail(ctx: Context, face_id: int, px: int) -> bytes:
    """A face's JPEG thumbnail at most `px` wide, made once and then read from the workspace
    (owner-only), so that long listings do not decode originals again."""
    folder = ctx.folder / "thumbs" / str(px) / str(face_id // 1000)
    path = folder / f"{face_id}.jpg"
    if not path.exists():
        image = Image.open(io.BytesIO(face_image(ctx, face_id)))
        image.thumbnail((px, px))
        folder.mkdir(parents=True, mode=0o700, exist_ok=True)
        temp = folder / f".{face_id}.{os.getpid()}.{threading.get_ident()}.tmp"
        image.convert("RGB").save(temp, "JPEG", quality=85)
        os.replace(temp, path)
    return path.read_bytes()


def face_in_context(ctx: Context, face_id: int, size: int) -> bytes:
    """The photo or video frame a face is in, at most `size` pixels wide, the face outlined."""
    face = _stored(ctx, face_id)
    image = draw_boxes(original_pixels(face), [face.face.bbox], [f"face {face_id}"])
    image.thumbnail((size, size))
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=88)
    return out.getvalue()
