"""Telegram Desktop exports (JSON format): every photo and video of a chat with its post.

An export is a folder with `result.json` and the media beside it (photos/, video_files/,
files/ …), of one chat or of a whole account (`chats.list`, `left_chats.list`). The index
is read and checked in full before anything is stored, so a truncated or damaged
result.json fails as a whole, naming the file and the position. Inside an export the index
is the truth: the files it names are scanned with their posts; every other file in the
folder (video thumbnails, stickers, files no message names) is reported as skipped.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facesift.media.files import sha256_file
from facesift.media.sources import TELEGRAM, ArchiveError, MediaSource

RESULT_FILE = "result.json"

# The media types of "file" attachments that are videos; photos are "photo" attachments, or
# files whose MIME type says image (sent uncompressed: often the original).
VIDEO_MEDIA_TYPES = frozenset({"video_file", "animation", "video_message"})
# Chat types whose posts have a t.me link (t.me/c/ID/POST opens for members of the chat).
LINKED_CHAT_TYPES = frozenset(
    {"public_channel", "private_channel", "public_supergroup", "private_supergroup"}
)


@dataclass
class TelegramExport:
    """What an export holds: its media with their posts, and everything not scanned, with
    the reason (media the export left out, attachments that are no photo or video)."""

    folder: Path
    result_sha256: str
    chats: int = 0
    messages: int = 0
    media: list[tuple[Path, MediaSource]] = field(default_factory=list)
    not_included: list[tuple[str, str]] = field(default_factory=list)
    # Files of the export that are not scanned (a video's thumbnail, a sticker, a voice
    # message …), resolved, with the reason.
    unscanned: dict[Path, str] = field(default_factory=dict)

    @property
    def referenced(self) -> set[Path]:
        return {path.resolve() for path, _ in self.media}


def is_export(folder: Path) -> bool:
    """A folder Telegram Desktop exported into (it holds result.json)."""
    return (folder / RESULT_FILE).is_file()


def read_export(folder: str | Path) -> TelegramExport:
    """Read an export's index; raises ArchiveError when result.json is not a whole,
    well-formed Telegram export."""
    root = Path(folder)
    index = root / RESULT_FILE
    try:
        raw = index.read_bytes()
        data = json.loads(raw)
    except OSError as exc:
        raise ArchiveError(str(index), f"cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ArchiveError(str(index), f"not UTF-8 text ({exc.reason})") from None
    except json.JSONDecodeError as exc:
        raise ArchiveError(
            str(index),
            f"not a complete JSON document ({exc.msg} at line {exc.lineno}, column "
            f"{exc.colno}): a truncated or damaged export; export it again",
        ) from None
    export = TelegramExport(root, sha256_file(index))
    for chat in _chats(data, index):
        export.chats += 1
        for message in chat.get("messages", []):
            export.messages += 1
            _read_message(export, chat, message, index)
    return export


def _chats(data: Any, index: Path) -> Iterator[dict[str, Any]]:
    """The chats of a single-chat or a full export."""
    if isinstance(data, dict) and isinstance(data.get("messages"), list):
        yield data
        return
    if isinstance(data, dict) and isinstance(data.get("chats"), dict):
        for group in ("chats", "left_chats"):
            for chat in (data.get(group) or {}).get("list") or []:
                if not isinstance(chat, dict) or not isinstance(chat.get("messages"), list):
                    raise ArchiveError(str(index), f"a chat in {group}.list has no messages")
                yield chat
        return
    raise ArchiveError(str(index), "not a Telegram Desktop export (no messages, no chats.list)")


def _time(value: Any) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), UTC) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _text(value: Any) -> str | None:
    """A message's text: a string, or a list of strings and entities ({"text": …})."""
    if isinstance(value, str):
        return value or None
    if isinstance(value, list):
        joined = "".join(p if isinstance(p, str) else str(p.get("text", "")) for p in value)
        return joined or None
    return None


def _attachment(message: dict[str, Any]) -> tuple[str, str] | tuple[str, None] | None:
    """(field, "image" or "video") of a message's photo or video; (field, None) for an
    attachment of another kind; None without attachment."""
    if isinstance(message.get("photo"), str):
        return "photo", "image"
    if not isinstance(message.get("file"), str):
        return None
    mime = str(message.get("mime_type") or "")
    if message.get("media_type") in VIDEO_MEDIA_TYPES or mime.startswith("video/"):
        return "file", "video"
    if mime.startswith("image/") and message.get("media_type") != "sticker":
        return "file", "image"
    return "file", None


def _read_message(
    export: TelegramExport, chat: dict[str, Any], message: dict[str, Any], index: Path
) -> None:
    if not isinstance(message, dict) or "id" not in message:
        raise ArchiveError(str(index), "a message without an id")
    found = _attachment(message)
    if found is None:
        return
    name, kind = found
    value = str(message[name])
    label = f"{index}: message {message['id']} of {chat.get('name') or chat.get('id')}"
    folder = export.folder.resolve()
    if isinstance(thumbnail := message.get("thumbnail"), str):
        export.unscanned[(folder / thumbnail).resolve()] = (
            f"the thumbnail of {value} (message {message['id']})"
        )
    path = (folder / value).resolve()
    if kind is None:
        what = message.get("media_type") or message.get("mime_type") or "a file"
        export.unscanned[path] = f"not a photo or video ({what}, message {message['id']})"
        return
    if not path.is_relative_to(folder):
        export.not_included.append((f"{label} ({value})", "names a file outside the export"))
        return
    if not path.is_file():
        reason = value if value.startswith("(") else "the file is missing from the export"
        export.not_included.append((f"{label} ({kind})", f"not in the export: {reason}"))
        return
    chat_id, post_id = str(chat.get("id", "")), str(message["id"])
    chat_type = chat.get("type")
    url = (
        f"https://t.me/c/{chat_id}/{post_id}"
        if chat_type in LINKED_CHAT_TYPES and chat_id.isdigit()
        else None
    )
    text = _text(message.get("text"))
    if message.get("type") == "service":
        text = f"[{message.get('action', 'service message')}] {text or ''}".strip()
    export.media.append(
        (
            export.folder / value,
            MediaSource(
                kind=TELEGRAM,
                key=f"telegram:{chat_id}:{post_id}:{name}",
                url=url,
                channel=chat.get("name"),
                channel_id=chat_id or None,
                channel_type=chat_type,
                post_id=post_id,
                posted_at=_time(message.get("date_unixtime")),
                edited_at=_time(message.get("edited_unixtime")),
                author=message.get("from") or message.get("actor"),
                author_id=message.get("from_id") or message.get("actor_id"),
                forwarded_from=message.get("forwarded_from"),
                text=text,
                archive=str(index),
                archive_sha256=export.result_sha256,
                member=value,
            ),
        )
    )
