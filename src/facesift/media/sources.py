"""Where a file came from before it reached facesift: a post of a Telegram chat, a response
captured in a web archive (WACZ).

A face in such media is evidence only with its source: which channel or page, which post,
when it was posted, when it was captured, and which archive (by its SHA-256) holds the copy
(the Berkeley Protocol's chain of custody). A file is stored once per SHA-256; every post or
capture it was seen in is a source of its own, told apart by `key`.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from facesift.errors import FacesiftError

TELEGRAM = "telegram"
WACZ = "wacz"


class ArchiveError(FacesiftError):
    """An export or archive that cannot be read as a whole; `path` and `reason` say which
    and why. Nothing of it is stored: its media would lose their sources."""

    def __init__(self, path: str, reason: str) -> None:
        self.path = path
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def utc_iso(moment: datetime | None) -> str | None:
    """An aware time in ISO form, in UTC (the only zone sources are kept in)."""
    return None if moment is None else moment.astimezone(UTC).isoformat()


@dataclass(frozen=True)
class MediaSource:
    """One place a file was seen. `kind` is "telegram" or "wacz"; `key` is unique among the
    sources of one file (chat and message; archive and WARC record).

    Telegram: `url` is the post's link (channels and supergroups), `channel` the chat's name,
    `post_id` the message id, `posted_at`/`edited_at` its times (UTC), `author` and
    `forwarded_from` as exported, `text` the message text. WACZ: `url` is the resource's URL,
    `page_url` the archived page it belongs to, `captured_at` the WARC-Date, `record_id` the
    WARC-Record-ID, `signed` whether the archive carries a signature block (not verified
    here). `archive` and `archive_sha256` name the export's result.json or the .wacz file,
    and `member` the file inside it.
    """

    kind: str
    key: str
    url: str | None = None
    page_url: str | None = None
    channel: str | None = None
    channel_id: str | None = None
    channel_type: str | None = None
    post_id: str | None = None
    posted_at: datetime | None = None
    edited_at: datetime | None = None
    captured_at: datetime | None = None
    author: str | None = None
    author_id: str | None = None
    forwarded_from: str | None = None
    text: str | None = None
    archive: str | None = None
    archive_sha256: str | None = None
    member: str | None = None
    record_id: str | None = None
    signed: bool | None = None

    @property
    def when(self) -> datetime | None:
        """The time the source vouches for: posted, else captured."""
        return self.posted_at or self.captured_at

    @property
    def label(self) -> str:
        """One line for tables: what, where and when."""
        if self.kind == TELEGRAM:
            where = f"Telegram {self.channel or self.channel_id or '?'} post {self.post_id}"
        else:
            where = f"web archive {self.page_url or self.url or '?'}"
        when = self.when
        return f"{where}, {when.astimezone(UTC):%Y-%m-%d %H:%M} UTC" if when else where

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            out[f.name] = utc_iso(value) if isinstance(value, datetime) else value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MediaSource:
        values: dict[str, Any] = {f.name: data.get(f.name) for f in fields(cls)}
        for name in ("posted_at", "edited_at", "captured_at"):
            if isinstance(raw := values[name], str):
                values[name] = datetime.fromisoformat(raw)
        return cls(**values)
