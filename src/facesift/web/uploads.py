"""Files sent to the API, kept by content: `uploads/ab/abcdef….ext` under the workspace.

The client's file name never becomes a path (it is only recorded), so no upload can land
outside the folder; the type is sniffed from the content (facesift.media.files.sniff and a
decode), never taken from the name; an upload over the size limit is refused while it
streams; a file already kept is never rewritten.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from PIL import Image

from facesift.errors import FacesiftError
from facesift.media.files import sniff
from facesift.store.store import Tx
from facesift.workflows.context import Context

UPLOAD_DIR = "uploads"
DEFAULT_MAX_BYTES = 512 * 1024 * 1024
_CHUNK = 1 << 20
_IMAGE_SUFFIX = {"JPEG": ".jpg", "PNG": ".png", "WEBP": ".webp", "TIFF": ".tif", "GIF": ".gif",
                 "BMP": ".bmp", "HEIF": ".heic", "AVIF": ".avif"}  # fmt: skip


class UploadRefused(FacesiftError):
    """An upload that is too large or not a photo or video; `status` is the HTTP status."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


@dataclass(frozen=True)
class Upload:
    path: Path
    sha256: str
    kind: str  # "image" or "video"
    size: int
    name: str | None  # the client's file name, as sent (never used as a path)

    def to_dict(self) -> dict[str, object]:
        return {"sha256": self.sha256, "kind": self.kind, "size": self.size, "name": self.name}


def keep(folder: Path, stream: BinaryIO, name: str | None, max_bytes: int) -> Upload:
    """Store one uploaded stream under `folder`/uploads by its SHA-256."""
    root = folder / UPLOAD_DIR
    root.mkdir(mode=0o700, exist_ok=True)
    digest, size = hashlib.sha256(), 0
    fd, temp_name = tempfile.mkstemp(dir=root, prefix=".incoming-")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise UploadRefused(413, f"{name or 'upload'}: larger than {max_bytes} bytes")
                digest.update(chunk)
                out.write(chunk)
        kind, suffix = _kind(temp, name)
        sha = digest.hexdigest()
        final = root / sha[:2] / f"{sha}{suffix}"
        final.parent.mkdir(mode=0o700, exist_ok=True)
        if final.exists():
            temp.unlink()
        else:
            os.replace(temp, final)
        return Upload(final, sha, kind, size, name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()


@dataclass(frozen=True)
class Refusal:
    name: str | None
    reason: str
    status: int

    def to_dict(self) -> dict[str, object]:
        return {"name": self.name, "refused": self.reason, "status": self.status}


def keep_each(
    folder: Path, files: Sequence[tuple[BinaryIO, str | None]], max_bytes: int
) -> tuple[list[Upload], list[Refusal]]:
    """Keep every file that can be kept, and say why each other one was refused; refuse
    the whole batch (the first refusal's status, every reason) only when none could be."""
    kept: list[Upload] = []
    refused: list[Refusal] = []
    for stream, name in files:
        try:
            kept.append(keep(folder, stream, name, max_bytes))
        except UploadRefused as exc:
            refused.append(Refusal(name, str(exc), exc.status))
    if refused and not kept:
        raise UploadRefused(refused[0].status, "; ".join(r.reason for r in refused))
    return kept, refused


def find(folder: Path, sha256: str) -> Path | None:
    """The kept upload with this SHA-256, if any."""
    if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
        return None
    matches = sorted((folder / UPLOAD_DIR / sha256[:2]).glob(f"{sha256}.*"))
    return matches[0] if matches else None


def _kind(path: Path, name: str | None) -> tuple[str, str]:
    """("image" or "video", the suffix to keep it under), from the content alone."""
    label = name or "upload"
    sniffed = sniff(path)
    if sniffed == "video":
        import av  # PyAV is loaded only when a video is uploaded

        try:
            with av.open(str(path)) as container:
                fmt = container.format.name.split(",")[0]
                if not container.streams.video:
                    raise UploadRefused(415, f"{label}: no video stream")
        except (av.FFmpegError, OSError) as exc:
            raise UploadRefused(415, f"{label}: not a readable video ({exc})") from None
        return "video", ".mp4" if fmt in ("mov", "mp4") else f".{fmt}"
    try:
        with Image.open(path) as image:
            image.verify()
            fmt = image.format or ""
    except Exception:  # Pillow raises many kinds for a file that is no image
        raise UploadRefused(
            415, f"{label}: neither a photo nor a video facesift can read"
        ) from None
    return "image", _IMAGE_SUFFIX.get(fmt, ".img")


def record(ctx: Context, kept: list[Upload], refused: Sequence[Refusal] = ()) -> None:
    """Audit uploads and remember the names they were sent under, in one transaction."""

    def write(tx: Tx) -> None:
        for upload in kept:
            if upload.name:
                tx.name_upload(upload.sha256, upload.name, ctx.actor)
        tx.audit(
            ctx.actor,
            "media.upload",
            inputs={"files": [k.to_dict() for k in kept]},
            details={"refused": [r.to_dict() for r in refused]},
        )

    ctx.store.transaction(write)
