"""Finding media files in folders and fingerprinting them."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from facesift.media.sources import ArchiveError, MediaSource

IMAGE_EXTENSIONS = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".heic", ".heif", ".tif", ".tiff", ".gif", ".bmp"}
)
VIDEO_EXTENSIONS = frozenset(
    {".mp4", ".m4v", ".mkv", ".webm", ".mov", ".avi", ".mpg", ".mpeg", ".ts", ".3gp", ".wmv"}
)
MEDIA_EXTENSIONS = IMAGE_EXTENSIONS | VIDEO_EXTENSIONS


def is_video(path: str | Path) -> bool:
    """A video by its extension, or, for an unknown extension, by its content."""
    return media_kind(path) == "video"


# Signatures of the formats facesift reads, for files whose extension says nothing (.jfif,
# camera .mts, no extension): (offset, bytes, kind).
_SIGNATURES: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\xff\xd8\xff", "image"),  # JPEG / JFIF
    (0, b"\x89PNG\r\n\x1a\n", "image"),
    (0, b"GIF8", "image"),
    (0, b"II*\x00", "image"),  # TIFF
    (0, b"MM\x00*", "image"),
    (0, b"BM", "image"),
    (8, b"WEBP", "image"),
    (4, b"ftypheic", "image"),
    (4, b"ftypheix", "image"),
    (4, b"ftypmif1", "image"),
    (4, b"ftypavif", "image"),
    (4, b"ftyp", "video"),  # MP4, MOV, 3GP (after the HEIF brands above)
    (4, b"moov", "video"),
    (4, b"mdat", "video"),
    (0, b"\x1aE\xdf\xa3", "video"),  # Matroska, WebM
    (8, b"AVI ", "video"),
    (0, b"\x00\x00\x01\xba", "video"),  # MPEG program stream
    (0, b"0&\xb2u\x8ef\xcf\x11", "video"),  # ASF / WMV
    (0, b"FLV", "video"),
)


def sniff(path: str | Path) -> str | None:
    """ "image" or "video" by the file's first bytes, else None."""
    try:
        with open(path, "rb") as handle:
            head = handle.read(400)
    except OSError:
        return None
    for offset, signature, kind in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return kind
    # MPEG transport stream: sync bytes every 188 bytes (.ts), or 192 with a time code (.mts).
    for start, stride in ((0, 188), (4, 192)):
        if len(head) >= start + 2 * stride and all(
            head[start + k * stride] == 0x47 for k in range(2)
        ):
            return "video"
    return None


def media_kind(path: str | Path) -> str | None:
    """ "image" or "video": by a known extension, else by content; None if neither."""
    suffix = Path(path).suffix.lower()
    if suffix in IMAGE_EXTENSIONS:
        return "image"
    if suffix in VIDEO_EXTENSIONS:
        return "video"
    return sniff(path)


@dataclass
class Discovery:
    """What a walk over folders found: the media to analyse, and every other file it saw,
    with the reason it is not analysed (nothing is passed over silently)."""

    files: list[Path] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    # With archives: the posts each file of a Telegram export was seen in, the .wacz files
    # found (read by the scan, which keeps their media), the media an export left out, and
    # the exports that cannot be read (none of their files is taken).
    sources: dict[Path, list[MediaSource]] = field(default_factory=dict)
    archives: list[Path] = field(default_factory=list)
    not_included: list[tuple[str, str]] = field(default_factory=list)
    errors: list[tuple[str, str]] = field(default_factory=list)


def discover(
    paths: Iterable[str | Path],
    kinds: tuple[str, ...] = ("image", "video"),
    *,
    skip_hidden: bool = False,
    archives: bool = False,
) -> Discovery:
    """Media files under `paths`, recursively, in a stable order, each once.

    Files are recognised by extension or, failing that, by content. Hidden files and folders
    are included unless `skip_hidden`; links to folders are followed (each real folder once).
    A file named explicitly is always taken, so that an unsupported one gets a clear error.
    A missing path raises FileNotFoundError. With `archives`, a Telegram export's folder
    gives the media its result.json names, with their posts, and .wacz files are collected
    (facesift.media.telegram, facesift.media.wacz).
    """
    found = Discovery()
    seen: dict[Path, Path] = {}

    def take(candidate: Path) -> None:
        key = candidate.resolve()
        if key in seen:
            found.skipped.append((str(candidate), f"the same file as {seen[key]}"))
            return
        seen[key] = candidate
        found.files.append(candidate)

    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"{path}: no such file or folder")
        if archives and path.is_file() and path.suffix.lower() == ".wacz":
            found.archives.append(path)
            continue
        if not path.is_dir():
            take(path)
            continue
        walked: set[Path] = set()
        media: list[Path] = []
        for folder, subfolders, names in os.walk(path, followlinks=True):
            here = Path(folder)
            real = here.resolve()
            if real in walked:
                found.skipped.append((str(here), "a link to a folder already scanned"))
                subfolders.clear()
                continue
            walked.add(real)
            subfolders.sort()
            if archives and _take_export(here, subfolders, names, found, take):
                continue
            if skip_hidden:
                for name in [d for d in subfolders if d.startswith(".")]:
                    found.skipped.append((str(here / name), "hidden folder (--skip-hidden)"))
                    subfolders.remove(name)
            for name in sorted(names):
                candidate = here / name
                if skip_hidden and name.startswith("."):
                    found.skipped.append((str(candidate), "hidden file (--skip-hidden)"))
                elif not candidate.is_file():
                    found.skipped.append((str(candidate), "not a regular file"))
                elif archives and name.lower().endswith(".wacz"):
                    found.archives.append(candidate)
                elif (kind := media_kind(candidate)) is None:
                    found.skipped.append((str(candidate), "not a photo or video (by content)"))
                elif kind not in kinds:
                    found.skipped.append((str(candidate), f"a {kind}: not taken here"))
                else:
                    media.append(candidate)
        for candidate in sorted(media):
            take(candidate)
    return found


def _take_export(
    here: Path,
    subfolders: list[str],
    names: list[str],
    found: Discovery,
    take: Callable[[Path], None],
) -> bool:
    """Take a Telegram export's media with their posts, and report every other file in its
    folder; False when `here` is no export. A damaged export is an error and none of its
    files is taken: scanned without their posts, they would lose their provenance."""
    from facesift.media import telegram

    if telegram.RESULT_FILE not in names:
        return False
    subfolders.clear()  # the whole export is handled here
    try:
        export = telegram.read_export(here)
    except ArchiveError as exc:
        found.errors.append((exc.path, f"{exc.reason}; none of this export's files is scanned"))
        return True
    for path, source in export.media:
        if path not in found.sources:
            take(path)
        found.sources.setdefault(path, []).append(source)
    found.not_included.extend(export.not_included)
    named = export.referenced | {(here / telegram.RESULT_FILE).resolve()}
    for candidate in sorted(p for p in here.rglob("*") if p.is_file()):
        if candidate.resolve() not in named:
            reason = export.unscanned.get(candidate.resolve(), "named by no message")
            found.skipped.append((str(candidate), f"in a Telegram export: {reason}"))
    return True


def sha256_file(path: str | Path, chunk_size: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes: the identity of a piece of evidence."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def iter_media_files(
    paths: Iterable[str | Path], extensions: frozenset[str] = IMAGE_EXTENSIONS
) -> Iterator[Path]:
    """Photos (or, with MEDIA_EXTENSIONS, also videos) under `paths`, hidden entries left out,
    for gallery folders and labelled datasets (a scan uses `discover` and reports the rest)."""
    kinds = ("image", "video") if extensions & VIDEO_EXTENSIONS else ("image",)
    yield from discover(paths, kinds, skip_hidden=True).files


def capture_time(
    kind: str, metadata: dict[str, Any], offset: float | None = None
) -> datetime | None:
    """When a photo was taken (EXIF DateTimeOriginal, else DateTimeDigitized, else DateTime)
    or a video frame shown (the container's creation_time plus `offset` seconds); None when
    the file does not say. EXIF times carry no zone: they are returned naive, as written."""
    if kind == "video":
        tags = metadata.get("metadata") or {}
        raw = tags.get("creation_time") if isinstance(tags, dict) else None
        if not isinstance(raw, str):
            return None
        try:
            start = datetime.fromisoformat(raw.replace("Z", "+00:00"))
        except ValueError:
            return None
        return start + timedelta(seconds=offset or 0.0)
    for tag in ("DateTimeOriginal", "DateTimeDigitized", "DateTime"):
        raw = metadata.get(tag)
        if isinstance(raw, str):
            try:
                return datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
            except ValueError:
                continue
    return None
