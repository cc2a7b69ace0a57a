"""Small OSINT archives built from the demo media: a Telegram Desktop export and a WACZ."""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from datetime import UTC, datetime
from pathlib import Path

from PIL import Image

from facesift.samples import DemoCase

CHANNEL_ID = 1234567890
POSTED = {2: 1646128800, 3: 1646215200, 6: 1646301600}  # 1, 2 and 3 March 2022, 10:00 UTC
EDITED = 1646388000


def _message(number: int, **fields: object) -> dict[str, object]:
    stamp = fields.pop("unix", POSTED.get(number, 1646000000))
    return {
        "id": number,
        "type": "message",
        "date": datetime.fromtimestamp(int(str(stamp)), UTC).strftime("%Y-%m-%dT%H:%M:%S"),
        "date_unixtime": str(stamp),
        "from": "Front News",
        "from_id": f"channel{CHANNEL_ID}",
        **fields,
    }


def build_telegram_export(folder: Path, demo: DemoCase) -> Path:
    """A single-channel export as Telegram Desktop writes it (JSON): a service message, a
    post with the scene photo, a forwarded post with a close-up, an edited post with a video
    (and its thumbnail), a photo left out of the export, the scene again in a later post, and
    a sticker."""
    (folder / "photos").mkdir(parents=True)
    (folder / "video_files").mkdir()
    (folder / "stickers").mkdir()
    shutil.copy(demo.scene, folder / "photos" / "photo_1@01-03-2022_10-00-00.jpg")
    Image.open(demo.evidence / "hopper_blurred.webp").convert("RGB").save(
        folder / "photos" / "photo_2@02-03-2022_10-00-00.jpg", quality=90
    )
    shutil.copy(demo.scene, folder / "photos" / "photo_3@03-03-2022_10-00-00.jpg")
    shutil.copy(demo.clip, folder / "video_files" / "clip.mp4")
    Image.new("RGB", (90, 160), (40, 40, 40)).save(folder / "video_files" / "clip.mp4_thumb.jpg")
    Image.new("RGBA", (64, 64), (255, 0, 0, 255)).save(folder / "stickers" / "sticker.webp")
    messages = [
        {"id": 1, "type": "service", "date": "2022-02-28T08:00:00",
         "date_unixtime": "1646035200", "actor": "Front News", "actor_id": f"channel{CHANNEL_ID}",
         "action": "create_channel", "title": "Front News", "text": ""},
        _message(2, photo="photos/photo_1@01-03-2022_10-00-00.jpg", width=1400, height=800,
                 text=["Officers at the ", {"type": "bold", "text": "briefing"}, ""]),
        _message(3, forwarded_from="Other Channel",
                 photo="photos/photo_2@02-03-2022_10-00-00.jpg", width=350, height=360,
                 text="forwarded close-up"),
        _message(4, unix=1646301000, edited="2022-03-04T10:00:00", edited_unixtime=str(EDITED),
                 file="video_files/clip.mp4", thumbnail="video_files/clip.mp4_thumb.jpg",
                 media_type="video_file", mime_type="video/mp4", duration_seconds=6,
                 width=640, height=360, text="video"),
        _message(5, photo="(File not included. Change data exporting settings to download.)",
                 width=800, height=600, text="not downloaded"),
        _message(6, photo="photos/photo_3@03-03-2022_10-00-00.jpg", width=1400, height=800,
                 text="the briefing again"),
        _message(7, file="stickers/sticker.webp", media_type="sticker", sticker_emoji="👍",
                 mime_type="image/webp", width=64, height=64, text=""),
    ]  # fmt: skip
    export = {"name": "Front News", "type": "public_channel", "id": CHANNEL_ID,
              "messages": messages}  # fmt: skip
    (folder / "result.json").write_text(json.dumps(export, ensure_ascii=False, indent=1))
    return folder


def _warc(records: list[tuple[str, str, bytes, dict[str, str]]]) -> bytes:
    """A gzipped WARC: (type, uri, payload, http headers) per record, written by warcio."""
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    out = io.BytesIO()
    writer = WARCWriter(out, gzip=True)
    for kind, uri, payload, headers in records:
        if kind == "request":
            http = StatusAndHeaders(
                "GET / HTTP/1.1", list(headers.items()), protocol="HTTP/1.1", is_http_request=True
            )
        else:
            http = StatusAndHeaders("200 OK", list(headers.items()), protocol="HTTP/1.1")
        record = writer.create_warc_record(
            uri,
            kind,
            payload=io.BytesIO(payload),
            http_headers=http,
            warc_headers_dict={"WARC-Date": "2024-05-06T07:08:09Z"},
        )
        writer.write_record(record)
    return out.getvalue()


PAGE = "https://news.example.org/briefing"
IMAGE_URL = "https://cdn.example.org/img/briefing.jpg"
VIDEO_URL = "https://cdn.example.org/video/briefing.mp4"


def build_wacz(path: Path, demo: DemoCase, *, corrupt: bool = False) -> Path:
    """A WACZ with a page, the scene photo and the clip as responses (their requests name the
    page as Referer), datapackage.json with every resource's SHA-256, and a digest file with
    a signature block. `corrupt`: the WARC is changed after its hash was taken."""
    warc = _warc(
        [
            ("request", PAGE, b"", {"Host": "news.example.org"}),
            ("response", PAGE, b"<html><img src='briefing.jpg'></html>",
             {"Content-Type": "text/html; charset=utf-8"}),
            ("request", IMAGE_URL, b"", {"Referer": PAGE}),
            ("response", IMAGE_URL, demo.scene.read_bytes(), {"Content-Type": "image/jpeg"}),
            ("request", VIDEO_URL, b"", {"Referer": PAGE}),
            ("response", VIDEO_URL, demo.clip.read_bytes(), {"Content-Type": "video/mp4"}),
        ]
    )  # fmt: skip
    pages = (
        json.dumps({"format": "json-pages-1.0", "id": "pages", "title": "All Pages"}) + "\n"
        + json.dumps({"id": "p1", "url": PAGE, "ts": "2024-05-06T07:08:09Z", "title": "B"})
        + "\n"
    ).encode()  # fmt: skip
    members = {"archive/data.warc.gz": warc, "pages/pages.jsonl": pages}
    package = {
        "profile": "data-package",
        "wacz_version": "1.1.1",
        "title": "Briefing capture",
        "resources": [
            {"name": Path(m).name, "path": m, "hash": "sha256:" + hashlib.sha256(b).hexdigest(),
             "bytes": len(b)}
            for m, b in members.items()
        ],
    }  # fmt: skip
    if corrupt:  # one byte of the WARC changed after datapackage.json was written
        members["archive/data.warc.gz"] = warc[:-40] + bytes([warc[-40] ^ 1]) + warc[-39:]
    package_bytes = json.dumps(package).encode()
    digest = {
        "path": "datapackage.json",
        "hash": "sha256:" + hashlib.sha256(package_bytes).hexdigest(),
        "signedData": {"hash": "sha256:…", "signature": "…", "domain": "example.org"},
    }
    with zipfile.ZipFile(path, "w") as bundle:
        bundle.writestr("datapackage.json", package_bytes)
        bundle.writestr("datapackage-digest.json", json.dumps(digest))
        for member, data in members.items():
            bundle.writestr(member, data, compress_type=zipfile.ZIP_STORED)
    return path
