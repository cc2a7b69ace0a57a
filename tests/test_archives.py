"""OSINT archives end to end: a Telegram Desktop export and a WACZ web archive built here from
the demo media, scanned into a workspace; every face keeps its post or capture, and the
timeline orders a person's appearances by when they were posted."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app as cli
from facesift.media.telegram import read_export
from facesift.reports.case_report import render
from facesift.samples import DemoCase
from tests.osint import (
    CHANNEL_ID,
    EDITED,
    IMAGE_URL,
    PAGE,
    POSTED,
    VIDEO_URL,
    build_telegram_export,
    build_wacz,
)


@pytest.fixture(scope="module")
def telegram(
    tmp_path_factory: pytest.TempPathFactory, demo: DemoCase, engine: FaceEngine
) -> tuple[Workspace, Path, object]:
    root = tmp_path_factory.mktemp("telegram")
    export = build_telegram_export(root / "ChatExport_2022-03-05", demo)
    ws = Workspace(root / "ws", engine=engine)
    ws.enroll_folder(demo.gallery)
    report = ws.scan([export], case="osint", fps=2.0)
    return ws, export, report


def test_telegram_export_is_read_with_every_post(demo: DemoCase, tmp_path: Path) -> None:
    export = read_export(build_telegram_export(tmp_path / "export", demo))
    posts = {s.post_id: s for _, s in export.media}
    assert sorted(posts) == ["2", "3", "4", "6"]  # not the service message, nor the sticker
    assert posts["2"].text == "Officers at the briefing"
    assert posts["2"].url == f"https://t.me/c/{CHANNEL_ID}/2"
    assert posts["2"].posted_at == datetime.fromtimestamp(POSTED[2], UTC)
    assert posts["3"].forwarded_from == "Other Channel"
    assert posts["4"].edited_at == datetime.fromtimestamp(EDITED, UTC)
    assert posts["4"].channel == "Front News" and posts["4"].channel_type == "public_channel"
    index = (tmp_path / "export/result.json").read_bytes()
    assert export.result_sha256 == hashlib.sha256(index).hexdigest()
    assert [why for _, why in export.not_included] == [
        "not in the export: (File not included. Change data exporting settings to download.)"
    ]


def test_a_whole_account_export_gives_every_chat(demo: DemoCase, tmp_path: Path) -> None:
    single = build_telegram_export(tmp_path / "export", demo)
    chat = json.loads((single / "result.json").read_text())
    left = {"name": "Old Group", "type": "private_supergroup", "id": 77,
            "messages": [{**chat["messages"][1], "id": 9}]}  # fmt: skip
    whole = {"about": "…", "chats": {"about": "…", "list": [chat]},
             "left_chats": {"about": "…", "list": [left]}}  # fmt: skip
    (single / "result.json").write_text(json.dumps(whole))
    export = read_export(single)
    assert export.chats == 2
    posts = sorted((s.channel, s.post_id, s.url) for _, s in export.media)
    assert ("Old Group", "9", "https://t.me/c/77/9") in posts
    assert len(posts) == 5


def test_scanning_an_export_stores_each_face_with_its_posts(telegram: tuple) -> None:
    ws, _, report = telegram
    assert report.errors == []
    assert report.processed == 3  # the scene (two posts, one file), the close-up, the video
    assert report.already_stored == 1
    assert report.sources == 4
    assert len(report.not_included) == 1 and "message 5" in report.not_included[0][0]
    skipped = {Path(p).name: why for p, why in report.skipped}
    assert "thumbnail" in skipped["clip.mp4_thumb.jpg"]
    assert "sticker" in skipped["sticker.webp"]
    result = ws.identify(case="osint").to_dict()
    by_file: dict[str, list[dict]] = {}
    for face in result["faces"]:
        by_file.setdefault(Path(face["source"]["path"]).name, []).append(face["source"])
    scene = by_file["photo_1@01-03-2022_10-00-00.jpg"] or by_file["photo_3@03-03-2022_10-00-00.jpg"]
    posts = [(m["post_id"], m["posted_at"], m["url"]) for m in scene[0]["media_sources"]]
    assert posts == [
        ("2", "2022-03-01T10:00:00+00:00", f"https://t.me/c/{CHANNEL_ID}/2"),
        ("6", "2022-03-03T10:00:00+00:00", f"https://t.me/c/{CHANNEL_ID}/6"),
    ]
    assert all(len(s["media_sources"]) == 2 for s in scene)  # every face of that photo
    video = [t["source"] for t in result["tracks"]]
    assert video and all(s["media_sources"][0]["post_id"] == "4" for s in video)
    assert video[0]["media_sources"][0]["edited_at"] == "2022-03-04T10:00:00+00:00"


def test_rescanning_an_export_adds_nothing(telegram: tuple) -> None:
    ws, export, _ = telegram
    again = ws.scan([export], case="osint")
    assert (again.processed, again.sources, again.errors) == (0, 0, [])
    assert again.already_stored == 4


def test_timeline_orders_a_persons_appearances_by_post(telegram: tuple, tmp_path: Path) -> None:
    ws, _, _ = telegram
    faces = ws.identify(case="osint").faces
    hopper = [f for f in faces if f.candidates and f.candidates[0].person == "Grace Hopper"
              and f.candidates[0].above_threshold]  # fmt: skip
    assert hopper, "the close-up of Hopper matches her gallery face"
    for face in hopper:
        ws.review(face.face_id, "Grace Hopper", "confirm", note="same person")
    timeline = ws.timeline("Grace Hopper").to_dict()
    dated = [e for e in timeline["entries"] if e["when"]]
    assert [e["when"] for e in dated] == sorted(e["when"] for e in dated)
    posted = [(e["source"]["post_id"], e["when_basis"]) for e in dated]
    assert ("3", "posted") in posted  # the forwarded close-up
    assert all(e["basis"].startswith("confirmed by") for e in dated)
    enrolled = [e for e in timeline["entries"] if e["basis"] == "enrolled"]
    assert len(enrolled) == 1 and enrolled[0]["source"] is None and enrolled[0]["when"] is None
    assert timeline["entries"][-1]["basis"] == "enrolled"  # undated: last
    runner = CliRunner()
    out = runner.invoke(cli, ["--workspace", str(ws.path), "timeline", "Grace Hopper", "--csv"])
    assert out.exit_code == 0, out.output
    header, *rows = out.stdout.splitlines()
    assert header.startswith("when,when_basis,source_kind,channel,post_id,url")
    assert any(f"https://t.me/c/{CHANNEL_ID}/3" in row and "Front News" in row for row in rows)
    assert len(rows) == len(timeline["entries"])


def test_the_case_report_cites_each_face_with_its_posts(telegram: tuple) -> None:
    ws, _, _ = telegram
    html = render(ws.case_report("osint", include_unreviewed=True), "html").decode()
    assert "Seen in: Telegram Front News post 3, 2022-03-02 10:00 UTC" in html
    assert "forwarded from Other Channel" in html
    assert f"https://t.me/c/{CHANNEL_ID}/3" in html


def test_seen_before_finds_the_face_in_every_post(telegram: tuple, demo: DemoCase) -> None:
    ws, _, _ = telegram
    portrait = demo.gallery / "Grace Hopper" / "portrait.png"
    result = ws.seen_before(portrait, top=10).to_dict()
    (face,) = result["faces"]
    hits = face["sightings"]
    assert hits[0]["score"] > 0.999 and hits[0]["path"] == str(portrait)  # herself, enrolled
    posts = {m["post_id"]: h for h in hits if h["band"] == "strong" for m in h["media_sources"]}
    assert {"3", "4"} <= set(posts)  # the forwarded close-up and the video
    assert posts["4"]["timestamp"] is not None and posts["4"]["track_id"] is not None
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    tracks = [h["track_id"] for h in hits if h["track_id"] is not None]
    assert len(tracks) == len(set(tracks))  # a video track once, by its most similar face
    (entry,) = ws.audit_entries(action="seen_before")
    assert entry.to_dict()["details"]["leads"] == [[h["face_id"] for h in hits]]
    out = CliRunner().invoke(cli, ["-w", str(ws.path), "seen", str(portrait), "--json"])
    assert out.exit_code == 0, out.output
    assert [h["face_id"] for h in json.loads(out.stdout)["faces"][0]["sightings"]][:10] == [
        h["face_id"] for h in hits
    ]


def test_timeline_leads_are_the_unreviewed_matches(telegram: tuple) -> None:
    ws, _, _ = telegram
    result = ws.identify(case="osint")
    reviewed = {d.face_id for d in ws.decisions()}
    matched = {f.face_id for f in result.faces
               if f.candidates and f.candidates[0].person == "Eileen Collins"
               and f.candidates[0].above_threshold} - reviewed  # fmt: skip
    matched |= {t.best_shot.face_id for t in result.tracks if t.best_shot
                and t.candidates and t.candidates[0].person == "Eileen Collins"
                and t.candidates[0].above_threshold}  # fmt: skip
    timeline = ws.timeline("Eileen Collins", leads=True).to_dict()
    leads = [e for e in timeline["entries"] if e["basis"].startswith("lead")]
    assert leads, "the scene and the clip show Collins"
    photo_leads = {e["face_id"] for e in leads if e["track_id"] is None}
    assert photo_leads == {f for f in matched if f in {x.face_id for x in result.faces}}
    video_leads = [e for e in leads if e["track_id"] is not None]
    assert len({e["track_id"] for e in video_leads}) == len(video_leads)  # a track once
    without = ws.timeline("Eileen Collins").to_dict()
    assert not [e for e in without["entries"] if e["basis"].startswith("lead")]


def test_posts_of_a_file_scanned_before_show_at_once_and_are_audited(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    ws = Workspace(tmp_path / "ws", engine=engine)
    ws.enroll_folder(demo.gallery)
    ws.scan([demo.scene], case="c")
    before = ws.identify(case="c")  # kept by the workspace until something it shows changes
    assert before.faces and not any(f.source.media_sources for f in before.faces)
    report = ws.scan([build_telegram_export(tmp_path / "export", demo)], case="c", fps=2.0)
    assert report.already_stored >= 2 and report.sources == 4
    after = ws.identify(case="c")
    scene = [f for f in after.faces if f.source.sha256 == before.faces[0].source.sha256]
    assert scene and all([m.post_id for m in f.source.media_sources] == ["2", "6"] for f in scene)
    audited = ws.audit_entries(action="media.sources")
    keys = sorted(k for e in audited for k in e.to_dict()["objects"]["sources"])
    assert keys == sorted(
        f"telegram:{CHANNEL_ID}:{n}:{field}"
        for n, field in ((2, "photo"), (3, "photo"), (4, "file"), (6, "photo"))
    )


def test_a_truncated_export_is_an_error_and_stores_nothing(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    export = build_telegram_export(tmp_path / "export", demo)
    index = export / "result.json"
    index.write_bytes(index.read_bytes()[: index.stat().st_size // 2])
    ws = Workspace(tmp_path / "ws", engine=engine)
    report = ws.scan([export])
    assert len(report.errors) == 1
    where, why = report.errors[0]
    assert where == str(index) and "not a complete JSON document" in why
    assert "none of this export's files is scanned" in why
    assert ws.media() == [] and report.processed == 0
    out = CliRunner().invoke(cli, ["--workspace", str(ws.path), "scan", str(export)])
    assert out.exit_code == 3 and "result.json" in out.output


@pytest.fixture(scope="module")
def archived(
    tmp_path_factory: pytest.TempPathFactory, demo: DemoCase, engine: FaceEngine
) -> tuple[Workspace, Path, object, str]:
    root = tmp_path_factory.mktemp("wacz")
    wacz = build_wacz(root / "briefing.wacz", demo)
    before = hashlib.sha256(wacz.read_bytes()).hexdigest()
    ws = Workspace(root / "ws", engine=engine)
    report = ws.scan([root], case="web", fps=2.0)  # the folder: the .wacz in it is found
    return ws, wacz, report, before


def test_scanning_a_wacz_keeps_page_url_capture_time_and_record(archived: tuple) -> None:
    ws, wacz, report, before = archived
    assert report.errors == []
    assert report.archives == [
        {"path": str(wacz), "kind": "wacz", "sha256": before, "signed": True, "pages": 1,
         "media": 2, "other_responses": 1}
    ]  # fmt: skip
    assert hashlib.sha256(wacz.read_bytes()).hexdigest() == before  # the archive is untouched
    result = ws.identify(case="web").to_dict()
    photo = [f["source"] for f in result["faces"]]
    assert len(photo) >= 2
    seen = photo[0]["media_sources"]
    assert len(seen) == 1
    assert seen[0] | {"record_id": None} == seen[0] | {
        "kind": "wacz", "url": IMAGE_URL, "page_url": PAGE, "channel": "Briefing capture",
        "captured_at": "2024-05-06T07:08:09+00:00", "archive": str(wacz),
        "archive_sha256": before, "member": "archive/data.warc.gz", "signed": True,
        "posted_at": None, "record_id": None,
    }  # fmt: skip
    assert seen[0]["record_id"].startswith("<urn:uuid:")
    kept = Path(photo[0]["path"])
    assert kept.is_relative_to(ws.path) and kept.stat().st_mode & 0o777 == 0o400
    assert hashlib.sha256(kept.read_bytes()).hexdigest() == photo[0]["sha256"]
    assert [t["source"]["media_sources"][0]["url"] for t in result["tracks"]] == [VIDEO_URL] * len(
        result["tracks"]
    )
    search = ws.search(ws.path / kept).to_dict()  # the same file searched again: its capture
    assert search["media_sources"][0]["page_url"] == PAGE


def test_a_wacz_whose_resource_hash_fails_is_not_trusted(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    wacz = build_wacz(tmp_path / "altered.wacz", demo, corrupt=True)
    ws = Workspace(tmp_path / "ws", engine=engine)
    report = ws.scan([wacz])
    problems = {where: why for where, why in report.errors}
    assert list(problems) == [f"{wacz}!archive/data.warc.gz"]
    assert "does not match datapackage.json" in problems[f"{wacz}!archive/data.warc.gz"]
    assert report.archives[0]["media"] == 0 and ws.media() == []
