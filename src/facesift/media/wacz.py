"""WACZ web archives: every photo and video response, with its page, URL and capture time.

A WACZ is a zip of WARC files, a page list and `datapackage.json`, which names every
resource with its SHA-256. Every resource is checked against it before it is read; one
that does not match (or has no hash, or is not listed) is reported and nothing is taken
from it: a copy that cannot be shown to be the one captured is not evidence. Each record's
own WARC-Payload-Digest is checked as well (warcio). A signature block in
`datapackage-digest.json` is reported as present; it is not verified here.
"""

from __future__ import annotations

import hashlib
import json
import mimetypes
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, BinaryIO

from facesift.media.files import sha256_file
from facesift.media.sources import WACZ, ArchiveError, MediaSource

DATAPACKAGE = "datapackage.json"
DIGEST = "datapackage-digest.json"
PAGE_LISTS = ("pages/pages.jsonl", "pages/extraPages.jsonl")
_CHUNK = 1 << 20
_SPOOL_BYTES = 32 << 20

# Stores a response's payload (a stream) under a suffix; returns where it now is.
Keep = Callable[[BinaryIO, str], Path]


@dataclass
class WaczArchive:
    """What an archive gave: its media (kept copies with their sources) and every problem."""

    path: Path
    sha256: str
    title: str | None = None
    signed: bool = False
    pages: int = 0
    other_responses: int = 0
    media: list[tuple[Path, MediaSource]] = field(default_factory=list)
    problems: list[tuple[str, str]] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def is_wacz(path: Path) -> bool:
    return path.suffix.lower() == ".wacz"


def read_wacz(path: str | Path, keep: Keep) -> WaczArchive:
    """Check an archive's resources and hand every trusted photo or video response to
    `keep`; raises ArchiveError when the file is no readable WACZ at all."""
    archive_path = Path(path)
    try:
        sha = sha256_file(archive_path)
        bundle = zipfile.ZipFile(archive_path)
    except OSError as exc:
        raise ArchiveError(str(archive_path), f"cannot read: {exc.strerror or exc}") from None
    except zipfile.BadZipFile as exc:
        raise ArchiveError(str(archive_path), f"not a WACZ (zip) file: {exc}") from None
    with bundle:
        package = _json_member(bundle, archive_path, DATAPACKAGE)
        archive = WaczArchive(archive_path, sha, title=package.get("title"))
        trusted = _verified_resources(bundle, archive, package)
        pages = _pages(bundle, archive, trusted)
        archive.pages = len(pages)
        for member in sorted(m for m in trusted if m.startswith("archive/")):
            _read_warc(bundle, member, archive, keep)
        _attach_pages(archive, pages)
    return archive


def _here(archive: WaczArchive, member: str) -> str:
    return f"{archive.path}!{member}"


def _json_member(bundle: zipfile.ZipFile, path: Path, name: str) -> dict[str, Any]:
    try:
        data = json.loads(bundle.read(name))
    except KeyError:
        raise ArchiveError(str(path), f"not a WACZ: it has no {name}") from None
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(str(path), f"{name} cannot be read: {exc}") from None
    if not isinstance(data, dict):
        raise ArchiveError(str(path), f"{name} is not a JSON object")
    return data


def _member_sha256(bundle: zipfile.ZipFile, member: str) -> str:
    digest = hashlib.sha256()
    with bundle.open(member) as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _expected_sha256(entry: dict[str, Any]) -> str | None:
    """A resource's SHA-256 as datapackage.json gives it ("hash": "sha256:…", or "sha256")."""
    raw = entry.get("hash") or entry.get("sha256")
    if not isinstance(raw, str):
        return None
    algorithm, _, value = raw.rpartition(":")
    return value.lower() if algorithm in ("", "sha256") and value else None


def _verified_resources(
    bundle: zipfile.ZipFile, archive: WaczArchive, package: dict[str, Any]
) -> set[str]:
    """The members whose SHA-256 matches datapackage.json; every other one is a problem."""
    names = set(bundle.namelist())
    package_ok = True
    if DIGEST in names:
        digest = _json_member(bundle, archive.path, DIGEST)
        archive.signed = bool(digest.get("signedData") or digest.get("signature"))
        expected = _expected_sha256(digest)
        if expected is not None and expected != _member_sha256(bundle, DATAPACKAGE):
            package_ok = False
            archive.problems.append(
                (_here(archive, DATAPACKAGE), f"SHA-256 does not match {DIGEST}: the "
                 "resource list was altered, so no resource of this archive is trusted")
            )  # fmt: skip
    trusted: set[str] = set()
    for entry in package.get("resources") or []:
        member = entry.get("path") if isinstance(entry, dict) else None
        if not isinstance(member, str):
            continue
        expected = _expected_sha256(entry)
        if member not in names:
            archive.problems.append((_here(archive, member), "listed but not in the archive"))
        elif expected is None:
            archive.problems.append(
                (_here(archive, member), "no SHA-256 in datapackage.json: cannot be verified, "
                 "nothing read from it")
            )  # fmt: skip
        elif (found := _member_sha256(bundle, member)) != expected:
            archive.problems.append(
                (_here(archive, member), f"SHA-256 {found} does not match datapackage.json's "
                 f"{expected}: altered or damaged, nothing read from it")
            )  # fmt: skip
        elif package_ok:
            trusted.add(member)
    listed = {e.get("path") for e in package.get("resources") or [] if isinstance(e, dict)}
    for member in sorted(names - listed):
        if member.startswith("archive/") and not member.endswith("/"):
            archive.problems.append(
                (_here(archive, member), "not listed in datapackage.json: cannot be verified, "
                 "nothing read from it")
            )  # fmt: skip
    return trusted


def _pages(bundle: zipfile.ZipFile, archive: WaczArchive, trusted: set[str]) -> set[str]:
    """The URLs of the archived pages (from the trusted page lists)."""
    urls: set[str] = set()
    for member in PAGE_LISTS:
        if member not in trusted:
            continue
        for number, line in enumerate(bundle.read(member).splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except ValueError:
                archive.problems.append(
                    (_here(archive, member), f"line {number} is not JSON: that page is not listed")
                )
                continue
            if isinstance(entry, dict) and isinstance(entry.get("url"), str):
                urls.add(entry["url"])
    return urls


def _warc_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _read_warc(bundle: zipfile.ZipFile, member: str, archive: WaczArchive, keep: Keep) -> None:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.exceptions import ArchiveLoadFailed

    referers: dict[str, str] = {}
    try:
        with bundle.open(member) as stream:
            for record in ArchiveIterator(stream, check_digests=True):
                uri = record.rec_headers.get_header("WARC-Target-URI") or ""
                if record.rec_type == "request" and record.http_headers is not None:
                    if referer := record.http_headers.get_header("Referer"):
                        referers.setdefault(uri, referer)
                    continue
                if record.rec_type not in ("response", "resource"):
                    continue
                _take_record(record, uri, member, archive, keep)
    except (ArchiveLoadFailed, OSError, EOFError, zipfile.BadZipFile) as exc:
        archive.problems.append(
            (_here(archive, member), f"cannot be read to the end ({exc}): the media before "
             "this point are kept")
        )  # fmt: skip
    archive.media = [
        (path, replace(source, page_url=referers.get(source.url or "")))
        if source.member == member and source.page_url is None
        else (path, source)
        for path, source in archive.media
    ]


def _take_record(record: Any, uri: str, member: str, archive: WaczArchive, keep: Keep) -> None:
    """Keep one response if it is a complete photo or video whose digest checks out."""
    http = record.http_headers if record.rec_type == "response" else None
    headers = http if http is not None else record.rec_headers  # no HTTP: the WARC headers
    content_type = (headers.get_header("Content-Type") or "").split(";")[0].strip().lower()
    if not content_type.startswith(("image/", "video/")):
        archive.other_responses += 1
        return
    record_id = record.rec_headers.get_header("WARC-Record-ID")
    where = f"{_here(archive, member)} {record_id} ({uri})"
    status = http.get_statuscode() if http is not None else "200"
    if status != "200":
        why = "only a byte range was captured" if status == "206" else "not a complete response"
        archive.skipped.append((where, f"HTTP {status}: {why}"))
        return
    with tempfile.SpooledTemporaryFile(_SPOOL_BYTES) as payload:
        _copy(record.content_stream(), payload)
        _copy(record.raw_stream, None)  # to the end, so that the digest is checked
        if record.digest_checker.passed is False:
            problems = "; ".join(record.digest_checker.problems)
            archive.problems.append((where, f"{problems}: altered or damaged, not kept"))
            return
        payload.seek(0)
        suffix = mimetypes.guess_extension(content_type) or ".bin"
        kept = keep(payload, suffix)  # type: ignore[arg-type]  # a SpooledTemporaryFile reads
    archive.media.append(
        (
            kept,
            MediaSource(
                kind=WACZ,
                key=f"wacz:{archive.sha256}:{record_id}",
                url=uri,
                channel=archive.title,
                captured_at=_warc_date(record.rec_headers.get_header("WARC-Date")),
                archive=str(archive.path),
                archive_sha256=archive.sha256,
                member=member,
                record_id=record_id,
                signed=archive.signed,
            ),
        )
    )


def _copy(source: IO[bytes], target: IO[bytes] | None) -> None:
    while chunk := source.read(_CHUNK):
        if target is not None:
            target.write(chunk)


def _attach_pages(archive: WaczArchive, pages: set[str]) -> None:
    """A resource's page: itself when it is a page, else the page its request came from
    (Referer), else the archive's only page; None when that cannot be told."""
    only = next(iter(pages)) if len(pages) == 1 else None
    archive.media = [
        (
            path,
            replace(
                source,
                page_url=source.url if source.url in pages else (source.page_url or only),
            ),
        )
        for path, source in archive.media
    ]
