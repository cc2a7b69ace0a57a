"""Video end to end on real faces: scan, tracks, identification, resume, evidence frames."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app
from facesift.store import videos as videos_module
from facesift.store.schema import Media
from facesift.store.videos import VideoRecord
from facesift.workflows import scan as workspace_module
from facesift.workflows.results import ScanReport
from tests.videos import moving_photos_video

pytestmark = pytest.mark.datasets

ROOT = Path(__file__).resolve().parent
ENROLLED = ["Colin_Powell", "Tony_Blair", "Jennifer_Aniston", "Vladimir_Putin"]
# (person, visible from, until): the photo moves and grows or shrinks meanwhile.
SHOWN = [("Colin_Powell", 0.5, 3.5), ("Tony_Blair", 2.5, 6.0), ("Serena_Williams", 6.5, 8.5)]
MOTION = [((20, 120, 180), (220, 100, 230)), ((420, 140, 210), (300, 120, 180)),
          ((200, 100, 200), (240, 110, 200))]  # fmt: skip


def photos(lfw: Path, person: str) -> list[Path]:
    return sorted((lfw / "images" / person).glob("*.jpg"))


@pytest.fixture(scope="module")
def lfw_video(lfw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """9 s at 10 fps: each person's second photo shown while the first is enrolled."""
    shows = [
        (photos(lfw, person)[1], start, end, a, b)
        for (person, start, end), (a, b) in zip(SHOWN, MOTION, strict=True)
    ]
    path = tmp_path_factory.mktemp("video") / "lfw_people.mp4"
    return moving_photos_video(path, shows, duration=9.0)


@pytest.fixture(scope="module")
def gallery(lfw: Path, tmp_path_factory: pytest.TempPathFactory, engine: FaceEngine) -> Path:
    path = tmp_path_factory.mktemp("gallery-ws")
    with Workspace(path, engine=engine) as ws:
        for person in ENROLLED:
            assert all(o.ok for o in ws.enroll(person, photos(lfw, person)[:1]))
    return path


def copy_workspace(source: Path, target: Path) -> Path:
    import shutil

    shutil.copytree(source, target)
    return target


def test_lfw_video_is_identified_with_people_and_time_spans(
    lfw_video: Path, gallery: Path, tmp_path: Path, engine: FaceEngine
) -> None:
    with Workspace(copy_workspace(gallery, tmp_path / "ws"), engine=engine) as ws:
        report = ws.scan([lfw_video], case="clip", workers=1)
        assert report.processed == 1 and not report.errors and not report.partial
        assert report.video_seconds == pytest.approx(8.9, abs=0.05)
        result = ws.identify(case="clip")
        for track in result.tracks:  # the best shots' crops are kept, and only theirs
            assert 1 <= len(track.best_faces) <= min(3, track.faces)
            assert track.best_shot.face_id == track.best_faces[0]
            crop = Image.open(io.BytesIO(ws.face_crop(track.best_faces[0]) or b""))
            assert crop.format == "JPEG" and crop.size == (150, 150)
        kept = sum(ws.face_crop(f.id) is not None for f in ws.faces())
        assert kept == sum(len(t.best_faces) for t in result.tracks)
    assert result.faces == []  # every video face is reported in its track
    named = [t for t in result.tracks if t.candidates and t.candidates[0].above_threshold]
    by_person = {}
    for track in named:
        by_person.setdefault(track.candidates[0].person, []).append(track)
    assert set(by_person) == {"Colin_Powell", "Tony_Blair"}
    for person, start, end in SHOWN[:2]:
        (track,) = by_person[person]  # one track for the whole appearance
        # sampled at 2 frames/s: the span is known to within one sampling step
        assert start <= track.start < start + 0.5 and end - 0.5 - 1e-6 <= track.end < end
        assert track.faces >= 5 and track.candidates[0].band in ("strong", "possible")
        shot = track.best_shot
        assert start <= shot.timestamp <= end and len(shot.bbox) == 4
    # the person nobody enrolled is a track of their own, matched to no one
    unknown = [t for t in result.tracks if t.start <= 7.5 <= t.end]
    assert len(unknown) == 1 and not unknown[0].candidates[0].above_threshold
    assert unknown[0].start >= 6.5 - 1e-6


def test_interrupted_video_scan_resumes_to_the_same_result(
    lfw_video: Path, tmp_path: Path, engine: FaceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(workspace_module, "CHECKPOINT_SECONDS", 1.0)

    def summary(ws: Workspace) -> list[tuple[float, float, int]]:
        return sorted((t.start, t.end, t.faces) for t in ws.identify().tracks)

    with Workspace(tmp_path / "whole", engine=engine) as ws:
        ws.scan([lfw_video], workers=1)
        expected = summary(ws)

    def stop_at_five(path: Path, seconds: float, duration: float | None) -> None:
        if seconds >= 5.0:
            raise KeyboardInterrupt

    with Workspace(tmp_path / "resumed", engine=engine) as ws:
        first = ws.scan([lfw_video], workers=1, video_progress=stop_at_five)
        assert first.interrupted
        (media,) = ws.media()
        assert media.status == "scanning" and media.faces > 0
        kept = media.faces
        second = ws.scan([lfw_video], workers=1)
        assert not second.interrupted and second.processed == 1
        (media,) = ws.media()
        assert media.status == "ok" and media.faces > kept
        assert summary(ws) == expected
        assert ws.scan([lfw_video]).already_stored == 1


# Small faces (about 37 px: found only by a full scan, or near the small faces of the last one)
# that come in between full scans, so which frames are scanned in full changes what is found.
SMALL_SHOWN = [("Colin_Powell", 0.0, 6.0, (40, 60, 80), (400, 200, 90)),
               ("Tony_Blair", 1.3, 6.0, (500, 40, 85), (200, 300, 75)),
               ("Jennifer_Aniston", 2.5, 5.5, (300, 120, 80), (100, 100, 80)),
               ("Vladimir_Putin", 3.7, 6.0, (100, 350, 90), (450, 350, 80))]  # fmt: skip
SMALL_SCAN = {"workers": 1, "fps": 5.0, "full_scan_every": 1.0}
Stored = tuple[list[tuple[object, ...]], list[tuple[object, ...]]]


@pytest.fixture(scope="module")
def small_faces_video(lfw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s at 10 fps of small faces, all but the first appearing between full scans."""
    shows = [(photos(lfw, person)[1], *timing) for person, *timing in SMALL_SHOWN]
    path = tmp_path_factory.mktemp("video") / "small_faces.mp4"
    return moving_photos_video(path, shows, duration=6.0)


def stored_video(ws: Workspace) -> Stored:
    """Every stored face (frame, box to 0.1 px, track number) and track, in a fixed order."""
    from facesift.store.schema import Face as FaceRow
    from facesift.store.schema import Track as TrackRow

    with ws.context.store.sessions() as session:
        faces = sorted(
            (f.frame_index, tuple(round(v, 1) for v in f.bbox), f.track.number)
            for f in session.query(FaceRow)
        )
        tracks = sorted(
            (t.number, t.start_frame, t.end_frame, t.face_count, t.best_face.frame_index)
            for t in session.query(TrackRow)
        )
    return faces, tracks


@pytest.fixture(scope="module")
def small_faces_whole(
    small_faces_video: Path, tmp_path_factory: pytest.TempPathFactory, engine: FaceEngine
) -> Stored:
    with Workspace(tmp_path_factory.mktemp("whole"), engine=engine) as ws:
        assert ws.scan([small_faces_video], **SMALL_SCAN).processed == 1
        return stored_video(ws)


@pytest.mark.parametrize(("commit_on", "every"), [("CHECKPOINT_SECONDS", 0.5),
                                                ("HEARTBEAT_SECONDS", 0.0)])  # fmt: skip
def test_video_scan_interrupted_between_full_scans_resumes_exactly(
    commit_on: str,
    every: float,
    small_faces_video: Path,
    small_faces_whole: Stored,
    tmp_path: Path,
    engine: FaceEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Stopped at several moments, most between full scans (one a second; frames every 0.2 s),
    and resumed each time, once right after resuming (the first run's full scan carried over
    twice): the same faces, boxes and tracks as one uninterrupted scan. Commits every 0.5 s of
    video, or at every frame (the wall-clock heartbeat)."""
    monkeypatch.setattr(workspace_module, commit_on, every)

    def stop_at(moment: float) -> Callable[[Path, float, float | None], None]:
        def progress(path: Path, seconds: float, duration: float | None) -> None:
            if seconds >= moment - 1e-6:
                raise KeyboardInterrupt

        return progress

    with Workspace(tmp_path / "ws", engine=engine) as ws:
        for moment in (1.4, 1.6, 3.0, 4.8):
            stopped = ws.scan([small_faces_video], **SMALL_SCAN, video_progress=stop_at(moment))
            assert stopped.interrupted
            (media,) = ws.media()
            assert media.status == "scanning"
        report = ws.scan([small_faces_video], **SMALL_SCAN)
        assert report.processed == 1 and not report.interrupted
        faces, tracks = stored_video(ws)
    assert faces == small_faces_whole[0]
    assert tracks == small_faces_whole[1]


def test_a_scan_taken_over_stops_at_its_next_commit_and_says_what_holds_the_video(
    small_faces_video: Path,
    small_faces_whole: Stored,
    tmp_path: Path,
    engine: FaceEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A scan whose claim looks interrupted to another machine (here at once: no heartbeat is
    recent enough) is taken over there; that scan resumes from the first one's last commit and
    finishes the video. The first scan then stops at its next commit without writing, and its
    error says what the store showed instead of its claim."""
    monkeypatch.setattr(videos_module, "HEARTBEAT_STALE_SECONDS", 0.0)
    monkeypatch.setattr(workspace_module, "CHECKPOINT_SECONDS", 0.5)
    other: list[ScanReport] = []

    def take_over(path: Path, seconds: float, duration: float | None) -> None:
        if seconds >= 1.0 and not other:
            with monkeypatch.context() as elsewhere:
                elsewhere.setattr(videos_module.socket, "gethostname", lambda: "another-machine")
                with Workspace(tmp_path / "ws", engine=engine) as ws:
                    other.append(ws.scan([small_faces_video], **SMALL_SCAN))

    with Workspace(tmp_path / "ws", engine=engine) as ws:
        first = ws.scan([small_faces_video], **SMALL_SCAN, video_progress=take_over)
        assert other[0].processed == 1 and not other[0].errors
        ((path, reason),) = first.errors
        assert path == str(small_faces_video) and first.processed == 0
        assert str(reason).startswith(
            "another process took this video's scan over (status 'ok', held by no scan)"
        )
        (media,) = ws.media()
        assert media.status == "ok"
        assert stored_video(ws) == small_faces_whole


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux's /proc")
def test_a_claim_holds_while_its_process_runs_here_or_it_committed_lately_elsewhere() -> None:
    """On this machine a video's claim holds while its process runs, however long ago it last
    committed (a suspended laptop, a clock that jumped), and ends when the process is gone, a
    zombie, or its id was given to a later process. Another machine's claim, or another
    container's with the same host name, holds while it committed in the last
    HEARTBEAT_STALE_SECONDS."""
    alive, stale = videos_module._alive, videos_module.HEARTBEAT_STALE_SECONDS
    long_ago = {**videos_module._scanner("token"), "heartbeat": time.time() - 10 * stale}
    assert alive(long_ago)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        claim = {**long_ago, "pid": child.pid, "started": videos_module._process_started(child.pid)}
        assert alive(claim)
        assert not alive({**claim, "started": claim["started"] + 1})  # the id, reused
        child.kill()
        for _ in range(1000):  # until the signal is delivered; not collected (no wait())
            if Path(f"/proc/{child.pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
                break
            time.sleep(0.01)
        assert not alive(claim)
    finally:
        child.kill()
        child.wait()
    assert not alive(claim)
    for elsewhere in (
        {**videos_module._scanner("token"), "host": "another-machine"},
        {**videos_module._scanner("token"), "pid_namespace": "pid:[1]"},  # another container
    ):
        assert alive(elsewhere)
        assert not alive({**elsewhere, "heartbeat": time.time() - stale})


def test_a_scan_that_fails_gives_its_video_up_to_a_rerun_in_the_same_process(
    small_faces_video: Path,
    small_faces_whole: Stored,
    tmp_path: Path,
    engine: FaceEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A failure while scanning a video (here the store failing at a commit) ends the scan
    with that error and gives the video up: a process that lives on (the web app running
    scans as jobs) can scan it again at once, resuming, instead of waiting on its own claim."""
    monkeypatch.setattr(workspace_module, "CHECKPOINT_SECONDS", 0.5)
    commit, calls = VideoRecord.commit, 0

    def fails_once(self: VideoRecord, *args: Any, **kwargs: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise RuntimeError("server closed the connection unexpectedly")
        commit(self, *args, **kwargs)

    monkeypatch.setattr(VideoRecord, "commit", fails_once)
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        with pytest.raises(RuntimeError, match="server closed the connection"):
            ws.scan([small_faces_video], **SMALL_SCAN)
        with ws.context.store.sessions() as session:
            (media,) = session.query(Media)
            assert media.status == "scanning" and "scanner" not in media.analysis
        report = ws.scan([small_faces_video], **SMALL_SCAN)
        assert report.processed == 1 and not report.errors
        assert stored_video(ws) == small_faces_whole


def test_a_frame_whose_analysis_fails_leaves_the_video_to_resume_not_partial(
    small_faces_video: Path,
    small_faces_whole: Stored,
    tmp_path: Path,
    engine: FaceEngine,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """An exception in the engine on one frame (as ONNX Runtime raises when GPU memory runs
    out) says nothing about the file: the scan reports it as an analysis error, the video
    keeps the faces found before it and stays unfinished, and the next scan resumes it and
    ends as an uninterrupted scan — not "partial" for good."""
    monkeypatch.setattr(workspace_module, "CHECKPOINT_SECONDS", 0.5)
    analyze, calls = engine.analyze_pixels, 0

    def fails_once(*args: object, **kwargs: object) -> object:
        nonlocal calls
        calls += 1
        if calls == 12:  # the 12th sampled frame (2.2 s), after a commit
            raise RuntimeError("Failed to allocate memory for requested buffer of size 26214400")
        return analyze(*args, **kwargs)

    monkeypatch.setattr(engine, "analyze_pixels", fails_once)
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        first = ws.scan([small_faces_video], **SMALL_SCAN)
        ((path, reason),) = first.errors
        assert path == str(small_faces_video) and reason.startswith("frame 22 (2.20 s)")
        assert "Failed to allocate memory" in reason and "resumes" in reason
        assert first.to_dict()["errors"][0]["kind"] == "analysis"
        assert not first.partial and first.processed == 0
        (media,) = ws.media()
        assert media.status == "scanning" and media.faces > 0 and media.error is None
        second = ws.scan([small_faces_video], **SMALL_SCAN)
        assert second.processed == 1 and not second.errors and not second.partial
        (media,) = ws.media()
        assert media.status == "ok" and media.error is None
        assert stored_video(ws) == small_faces_whole
    assert calls > 30  # the second scan analysed only the frames from the failed one on


def test_truncated_video_keeps_its_faces_and_reports_the_damage(
    lfw_video: Path, tmp_path: Path, engine: FaceEngine
) -> None:
    import av

    # Remux to Matroska (whose index is not at the end), then cut it at 60%.
    whole = tmp_path / "whole.mkv"
    with av.open(str(lfw_video)) as source, av.open(str(whole), "w") as target:
        stream = target.add_stream_from_template(source.streams.video[0])
        for packet in source.demux(source.streams.video[0]):
            if packet.dts is not None:
                packet.stream = stream
                target.mux(packet)
    cut = tmp_path / "cut.mkv"
    cut.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        report = ws.scan([cut], workers=1)
        ((path, reason),) = report.partial
        assert path.endswith("cut.mkv") and "truncated" in reason
        (media,) = ws.media()
        assert media.status == "partial" and media.faces > 0
        assert "truncated" in media.error
        assert ws.scan([cut]).already_stored == 1  # not retried: the file is what it is


def appearances(video: str) -> dict[str, list[list[float]]]:
    data = json.loads((ROOT / "data" / "video_appearances.json").read_text())
    return data["videos"][video]


@pytest.mark.parametrize("video", ["street_1080p.mp4", "hamilton_clip_640x360.mp4"])
def test_tracks_follow_people_in_real_footage(
    video: str, datasets: Path, tmp_path: Path, engine: FaceEngine
) -> None:
    """Checked against appearances annotated by eye: one track per appearance, never shared."""
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        ws.scan([datasets / "media" / video])
        with ws.context.store.sessions() as session:
            from facesift.store.schema import Face as FaceRow

            rows = [(r.timestamp, r.bbox, r.track.number) for r in session.query(FaceRow)]
    found: dict[str, list[int]] = {}
    points = 0
    for person, marks in appearances(video).items():
        for t, x, y in marks:
            points += 1
            hits = [
                track
                for ts, (x1, y1, x2, y2), track in rows
                if abs(ts - t) < 0.02 and x1 <= x <= x2 and y1 <= y <= y2
            ]
            assert len(hits) <= 1
            found.setdefault(person, []).extend(hits)
    assert sum(len(v) for v in found.values()) >= 0.9 * points  # nearly every face is found
    tracks = {person: set(ids) for person, ids in found.items() if ids}
    for person, ids in tracks.items():
        assert len(ids) == 1, f"{person} is split over tracks {sorted(ids)}"
    owners = [next(iter(ids)) for ids in tracks.values()]
    assert len(owners) == len(set(owners)), "two appearances share a track"


def test_cli_search_video_json_and_evidence_frame(
    lfw_video: Path, gallery: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    ws = str(copy_workspace(gallery, tmp_path / "ws"))
    result = runner.invoke(app, ["-w", ws, "search", str(lfw_video), "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["video"]["sample_fps"] == 2.0 and data["sha256"]
    assert len(data["faces"]) >= sum(t["faces"] for t in data["tracks"]) > 0
    tracks = {t["candidates"][0]["person"]: t for t in data["tracks"] if t["faces"] >= 3}
    powell = tracks["Colin_Powell"]
    assert set(powell) >= {"start", "end", "faces", "candidates", "best_shot"}
    assert 0.5 <= powell["start"] < 1.0 and 3.0 <= powell["end"] < 3.5

    # Scan it, then extract the evidence frame of Powell's best shot with the stored boxes.
    assert runner.invoke(app, ["-w", ws, "scan", str(lfw_video)]).exit_code == 0
    shot = powell["best_shot"]
    out = tmp_path / "evidence.png"
    args = ["-w", ws, "frame", str(lfw_video), "--at", str(shot["timestamp"]), "--out", str(out)]
    result = runner.invoke(app, [*args, "--boxes", "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.stdout)
    assert info["frame_index"] == shot["frame_index"] and out.is_file()
    assert any(f["stored"] and f["track"] is not None for f in info["faces"])
    by_index = runner.invoke(
        app,
        ["-w", ws, "frame", str(lfw_video), "--index", str(shot["frame_index"]),
         "--out", str(tmp_path / "same.png"), "--json"],
    )  # fmt: skip
    assert json.loads(by_index.stdout)["timestamp"] == pytest.approx(shot["timestamp"], abs=1e-3)
    identify = runner.invoke(app, ["-w", ws, "identify", "--csv"])
    assert identify.exit_code == 0 and "Colin_Powell" in identify.stdout
    late = tmp_path / "late.png"
    bad = runner.invoke(app, ["-w", ws, "frame", str(lfw_video), "--at", "60", "--out", str(late)])
    assert bad.exit_code != 0 and "ends at" in bad.output
