"""Workspace use cases end to end on real photos: enrol, scan, search, identify, verify."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from facesift import FaceEngine, MediaError, Workspace, WorkspaceError
from facesift.samples import DemoCase
from facesift.store import repository as repo
from facesift.store.schema import SCHEMA_VERSION
from tests.videos import moving_photos_video


def _metadata() -> dict[str, dict[str, str]]:
    return {"Grace Hopper": {"rank": "Rear Admiral"}, "Eileen Collins": {"unit": "NASA"}}


@pytest.fixture(scope="module")
def scanned(
    tmp_path_factory: pytest.TempPathFactory, demo: DemoCase, engine: FaceEngine
) -> Workspace:
    ws = Workspace(tmp_path_factory.mktemp("ws"), engine=engine)
    ws.enroll_folder(demo.gallery, _metadata())
    ws.scan([demo.evidence], case="demo")
    return ws


def test_enrol_folder_with_metadata(tmp_path: Path, demo: DemoCase, engine: FaceEngine) -> None:
    ws = Workspace(tmp_path / "ws", engine=engine)
    outcomes = ws.enroll_folder(demo.gallery, _metadata())
    assert [(o.person, o.status) for o in outcomes] == [
        ("Eileen Collins", "enrolled"),
        ("Grace Hopper", "enrolled"),
    ]
    assert [o.message for o in outcomes] == ["one face", "one face"]
    people = {p.name: p.to_dict() for p in ws.people()}
    assert people["Grace Hopper"]["attributes"] == {"rank": "Rear Admiral"}
    assert people["Eileen Collins"]["faces"] == 1
    again = ws.enroll("Grace Hopper", [demo.gallery / "Grace Hopper"])
    assert [o.status for o in again] == ["already_enrolled"]
    clash = ws.enroll("Someone Else", [demo.gallery / "Grace Hopper"])
    assert clash[0].status == "conflict" and "Grace Hopper" in clash[0].message


def test_enrol_reports_each_problem_file(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine, hopper_path: Path
) -> None:
    ws = Workspace(tmp_path / "ws", engine=engine)
    hopper = Image.open(hopper_path).convert("RGB")
    twins = Image.new("RGB", (hopper.width * 2, hopper.height))
    twins.paste(hopper, (0, 0))
    twins.paste(hopper, (hopper.width, 0))
    twins.save(tmp_path / "twins.jpg")
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8\xff\xe0 not really")
    outcomes = ws.enroll(
        "Grace Hopper",
        [
            demo.evidence / "empty_wall.png",
            tmp_path / "twins.jpg",
            tmp_path / "broken.jpg",
            demo.gallery / "Grace Hopper" / "portrait.png",
        ],
    )
    assert [o.status for o in outcomes] == ["no_face", "ambiguous", "unreadable", "enrolled"]
    assert "ambiguous" in outcomes[1].message
    assert "broken.jpg" in outcomes[2].path and outcomes[2].message
    with pytest.raises(WorkspaceError):
        ws.enroll("  ", [hopper_path])


def test_scan_stores_faces_with_provenance_and_reports_bad_files(
    scanned: Workspace, demo: DemoCase
) -> None:
    media = {Path(m.path).name: m.to_dict() for m in scanned.media(case="demo")}
    assert media["scene.jpg"]["faces"] == 3
    assert media["scene_camera_rotated.jpg"]["faces"] == 3
    assert media["empty_wall.png"]["faces"] == 0
    assert media["notes.txt.jpg"]["status"] == "error"
    assert "not a recognised image format" in media["notes.txt.jpg"]["error"]
    scene = media["scene.jpg"]
    assert len(scene["sha256"]) == 64 and scene["size"] == (demo.scene).stat().st_size
    assert (scene["width"], scene["height"]) == (1400, 800)
    # EXIF orientation honoured: the rotated copy is stored upright, with the same boxes.
    rotated = media["scene_camera_rotated.jpg"]
    assert (rotated["width"], rotated["height"]) == (1400, 800)
    faces = [f.to_dict() for f in scanned.faces(case="demo")]
    boxes = {}
    for f in faces:
        boxes.setdefault(Path(f["path"]).name, []).append(f["bbox"])
    for a, b in zip(
        sorted(boxes["scene.jpg"]), sorted(boxes["scene_camera_rotated.jpg"]), strict=True
    ):
        assert np.allclose(a, b, atol=3)
    assert {f["model"] for f in faces} == {"dlib_face_recognition_resnet_model_v1+flip"}


def test_rescan_is_idempotent(scanned: Workspace, demo: DemoCase) -> None:
    before = scanned.faces()
    report = scanned.scan([demo.evidence], case="demo")
    assert report.processed == 0
    assert report.already_stored == report.files - 1  # all but the non-image
    assert [p for p, _ in report.errors] == [str(demo.evidence / "notes.txt.jpg")]
    assert scanned.faces() == before
    # Copied elsewhere under another name, a file is still the same evidence.
    copy = demo.evidence.parent / "copy_of_scene.jpg"
    shutil.copy(demo.scene, copy)
    assert scanned.scan([copy], case="other").already_stored == 1
    assert len(scanned.faces()) == len(before)
    assert [Path(m.path).name for m in scanned.media(case="other")] == ["scene.jpg"]


def test_interrupted_scan_resumes(tmp_path: Path, demo: DemoCase, engine: FaceEngine) -> None:
    ws = Workspace(tmp_path / "ws", engine=engine)

    def stop_after_two(_path: Path, done: int, _total: int) -> None:
        if done == 2:
            raise KeyboardInterrupt

    first = ws.scan([demo.evidence], progress=stop_after_two)
    assert first.interrupted and first.processed == 2
    assert len(ws.media()) == 2
    second = ws.scan([demo.evidence])
    assert not second.interrupted
    assert second.already_stored == 2 and second.processed == first.files - 3
    clean = Workspace(tmp_path / "clean", engine=engine)
    clean.scan([demo.evidence])
    assert len(ws.faces()) == len(clean.faces()) == 7


def test_bad_files_never_damage_what_is_stored(
    tmp_path: Path, scanned: Workspace, hopper_path: Path
) -> None:
    before = scanned.faces()
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "zero.jpg").write_bytes(b"")
    (bad / "cut.jpg").write_bytes(hopper_path.read_bytes()[:4000])
    (bad / "text.png").write_bytes(b"hello")
    report = scanned.scan([bad], case="bad")
    reasons = {Path(p).name: r for p, r in report.errors}
    assert set(reasons) == {"zero.jpg", "cut.jpg", "text.png"}
    assert "truncated" in reasons["cut.jpg"] and "empty" in reasons["zero.jpg"]
    assert scanned.faces() == before


def test_search_ranks_the_right_people(scanned: Workspace, demo: DemoCase) -> None:
    result = scanned.search(demo.scene, top=2)
    assert len(result.faces) == 3
    tops = sorted(
        (f.bbox[0], f.candidates[0].person, f.candidates[0].above_threshold) for f in result.faces
    )
    # Left to right: Hopper, Collins, then the stranger, whose best match is below threshold.
    assert tops[0][1:] == ("Grace Hopper", True)
    assert tops[1][1:] == ("Eileen Collins", True)
    assert tops[2][2] is False
    for face in result.faces:
        scores = [c.score for c in face.candidates]
        assert scores == sorted(scores, reverse=True)
    assert result.sha256 and result.decision.model["embedder_sha256"]


def test_identify_lists_case_faces(scanned: Workspace) -> None:
    result = scanned.identify(case="demo")
    assert len(result.faces) == 7
    named = [f.candidates[0].person for f in result.faces if f.candidates[0].above_threshold]
    assert sorted(named) == ["Eileen Collins"] * 2 + ["Grace Hopper"] * 3
    assert all(f.source.sha256 and f.face_id for f in result.faces)
    with pytest.raises(WorkspaceError, match="no case named"):
        scanned.identify(case="nope")


def test_verify(scanned: Workspace, demo: DemoCase) -> None:
    same = scanned.verify(
        demo.gallery / "Grace Hopper" / "portrait.png", demo.evidence / "hopper_blurred.webp"
    )
    assert same.same_person and same.score >= same.decision.threshold
    other = scanned.verify(
        demo.gallery / "Grace Hopper" / "portrait.png",
        demo.gallery / "Eileen Collins" / "portrait.png",
    )
    assert not other.same_person and other.score < same.score
    with pytest.raises(MediaError, match="no face"):
        scanned.verify(demo.evidence / "empty_wall.png", demo.scene)


def test_gallery_index_follows_the_database(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    ws = Workspace(tmp_path / "ws", engine=engine)
    ws.enroll("Grace Hopper", [demo.gallery / "Grace Hopper"])
    assert ws.gallery().people == 1
    index_files = list((tmp_path / "ws" / "index").iterdir())
    assert index_files
    # A second workspace object on the same folder sees the new enrolment.
    other = Workspace(tmp_path / "ws", engine=engine)
    other.enroll("Eileen Collins", [demo.gallery / "Eileen Collins"])
    assert ws.gallery().people == 2
    # A deleted index is rebuilt from the database.
    shutil.rmtree(tmp_path / "ws" / "index")
    fresh = Workspace(tmp_path / "ws", engine=engine)
    assert fresh.gallery().people == 2
    assert fresh.search(demo.scene).faces[0].candidates


@pytest.mark.postgres
def test_postgres_store(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine, postgres_url: str
) -> None:
    ws = Workspace(tmp_path / "ws", engine=engine, database_url=postgres_url)
    ws.enroll_folder(demo.gallery, _metadata())
    report = ws.scan([demo.evidence], case="pg")
    assert report.faces == 7 and len(report.errors) == 1
    assert ws.scan([demo.evidence], case="pg").already_stored == 4
    result = ws.identify(case="pg")
    assert sum(f.candidates[0].above_threshold for f in result.faces) == 5
    assert ws.people()[1].attributes == {"rank": "Rear Admiral"}
    with ws.context.store.sessions() as session:
        assert repo.gallery_version(session) == 2
    hopper = next((demo.gallery / "Grace Hopper").iterdir())
    clip = moving_photos_video(
        tmp_path / "clip.mp4", [(hopper, 0.0, 2.0, (10, 10, 300), (60, 20, 320))], duration=2
    )
    assert ws.scan([clip], case="pg", workers=1).tracks == 1
    (track,) = ws.identify(case="pg").tracks
    assert track.candidates[0].person == "Grace Hopper" and track.best_faces
    ws.close()


def test_older_store_is_upgraded_in_place(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    """A store made before video tracks existed opens, keeps its faces, and takes videos."""
    import re
    import sqlite3

    with Workspace(tmp_path / "ws", engine=engine) as ws:
        ws.enroll_folder(demo.gallery, _metadata())
        faces_before = len(ws.faces())
    db = sqlite3.connect(tmp_path / "ws" / "facesift.db")  # back to the version 1 layout
    (create,) = db.execute("SELECT sql FROM sqlite_master WHERE name = 'faces'").fetchone()
    added = ("track_id", "crop", "low_res_embedding")  # the columns version 2 added
    lines = [line for line in create.splitlines() if not any(c in line for c in added)]
    columns = [r[1] for r in db.execute("PRAGMA table_info(faces)") if r[1] not in added]
    db.executescript(
        "PRAGMA foreign_keys = OFF; ALTER TABLE faces RENAME TO faces_v2;"
        + re.sub(r",\s*\)\s*$", ")", "\n".join(lines))
        + f"; INSERT INTO faces SELECT {', '.join(columns)} FROM faces_v2; DROP TABLE faces_v2;"
        "DROP TABLE tracks; ALTER TABLE media DROP COLUMN link_target;"
        "DROP TABLE gallery_changes; UPDATE settings SET value = '1' WHERE key = 'schema_version';"
    )
    assert "track_id" not in {r[1] for r in db.execute("PRAGMA table_info(faces)")}
    db.close()
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        assert len(ws.faces()) == faces_before
        # Enrolling again gives the faces enrolled before templates existed their template.
        again = ws.enroll_folder(demo.gallery, _metadata())
        assert [o.status for o in again] == ["already_enrolled"] * 2
        with ws.context.store.sessions() as session:
            enrolled = [f for m in (repo.find_media(session, f.sha256) for f in ws.faces())
                        for f in m.faces if f.person_id is not None]  # fmt: skip
            assert enrolled and all(f.low_res_embedding is not None for f in enrolled)
        hopper = next((demo.gallery / "Grace Hopper").iterdir())
        clip = moving_photos_video(
            tmp_path / "clip.mp4", [(hopper, 0.0, 1.5, (10, 10, 300), (30, 10, 300))], duration=1.5
        )
        assert ws.scan([clip], workers=1).tracks == 1
        assert ws.identify().tracks[0].candidates[0].person == "Grace Hopper"
    db = sqlite3.connect(tmp_path / "ws" / "facesift.db")
    assert db.execute("SELECT value FROM settings WHERE key = 'schema_version'").fetchone() == (
        str(SCHEMA_VERSION),
    )
    assert "link_target" in {r[1] for r in db.execute("PRAGMA table_info(media)")}
    db.close()


def test_small_probe_faces_are_matched_against_low_resolution_templates(
    scanned: Workspace, demo: DemoCase, hopper_rgb: np.ndarray
) -> None:
    from facesift.vision.lowres import LOW_RES_PROBE_PX, degrade

    enrolled = [f for f in scanned.faces() if f.person]
    with scanned.context.store.sessions() as session:
        templates = [repo.find_media(session, f.sha256).faces for f in enrolled]
        assert all(
            face.low_res_embedding is not None for faces in templates for face in faces
            if face.person_id is not None
        )  # fmt: skip
    standard, low_res = scanned.gallery(), scanned.gallery(low_res=True)
    assert (low_res.people, len(low_res)) == (standard.people, len(standard)) == (2, 2)
    pairs = standard.index.reconstruct_n(0, 2) @ low_res.index.reconstruct_n(0, 2).T
    assert 0.9 < pairs[0, 0] < 0.9999 and 0.9 < pairs[1, 1] < 0.9999  # related, not equal
    big = scanned.search(
        demo.gallery / "Grace Hopper" / os.listdir(demo.gallery / "Grace Hopper")[0]
    )
    assert big.to_dict()["faces"][0]["templates"] == "standard"
    face_px = big.faces[0].quality.face_px
    small = degrade(hopper_rgb, 40 / face_px)  # the portrait with its face 40 px wide
    result = scanned.search(small)
    (face,) = result.faces
    assert face.quality.face_px < LOW_RES_PROBE_PX
    assert result.to_dict()["faces"][0]["templates"] == "low_resolution"
    assert face.candidates[0].person == "Grace Hopper"
    # the template scores the small face higher than the sharp original does
    plain = scanned.gallery().search(
        np.array([scanned.engine.analyze_pixels(small)[0].embedding]), 1
    )
    assert face.candidates[0].score > plain[0][0].score


def _lfw_photo(lfw: Path, name: str, number: str) -> Path:
    return lfw / "images" / name / f"{name}_{int(number):04d}.jpg"


def _centred(faces: list) -> object:
    """The face an LFW photo is of: the one nearest the centre of the 250×250 image."""
    return min(faces, key=lambda f: abs((f.bbox[0] + f.bbox[2]) / 2 - 125))


@pytest.mark.datasets
def test_another_photo_of_an_enrolled_person_is_found(
    tmp_path: Path, engine: FaceEngine, lfw: Path
) -> None:
    """Ten people enrolled from one photo each (the first ten of LFW View 1 DevTest's
    same-person pairs, people the shipped calibration never saw); each is searched for with
    the other photo of the pair, taken elsewhere and at another time: the right person ranks
    first, above the threshold. Ten strangers (the first ten others in DevTest's
    different-person pairs) are searched for too.

    At the decision FMR (6.5e-3 per comparison) a stranger searched against ten people draws
    a candidate above the threshold with probability 1 - (1 - 6.5e-3)^10 ≈ 6%: three or more
    of ten strangers happen with probability ≈ 2%, so at most two may. (Measured: one,
    Zach_Safrin, whose best candidate scores 0.922 against a threshold of 0.914.)"""
    lines = (lfw / "pairsDevTest.txt").read_text().splitlines()
    same = int(lines[0])
    people: dict[str, tuple[Path, Path]] = {}
    for line in lines[1 : 1 + same]:
        name, i, j = line.split()
        people.setdefault(name, (_lfw_photo(lfw, name, i), _lfw_photo(lfw, name, j)))
    enrolled = dict(list(people.items())[:10])
    strangers: dict[str, Path] = {}
    for line in lines[1 + same :]:
        a, i, b, j = line.split()
        for name, number in ((a, i), (b, j)):
            if name not in people:
                strangers.setdefault(name, _lfw_photo(lfw, name, number))
    strangers = dict(list(strangers.items())[:10])

    ws = Workspace(tmp_path / "ws", engine=engine)
    decision_fmr = ws.fmr_for(ws.threshold)
    assert decision_fmr == pytest.approx(6.5e-3, rel=0.01)  # what the bound above assumes
    for name, (photo, other) in enrolled.items():
        assert photo != other and ws.enroll(name, [photo])[0].ok, name
    for name, (_, other) in enrolled.items():
        best = _centred(ws.search(other).faces).candidates[0]
        assert (best.person, best.above_threshold) == (name, True), (name, best)
        assert best.score >= ws.threshold
    false_candidates = []
    for name, photo in strangers.items():
        best = _centred(ws.search(photo).faces).candidates[0]
        assert best.person in enrolled  # searched against the gallery: a candidate is shown
        if best.above_threshold:
            false_candidates.append((name, best.person, round(best.score, 3)))
    print(f"strangers above the threshold {ws.threshold:.3f}: {false_candidates}")
    assert len(false_candidates) <= 2, false_candidates


def test_bad_videos_are_reported_and_faceless_ones_stored(
    tmp_path: Path, engine: FaceEngine
) -> None:
    from tests.videos import numbered_frames, write_video

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "junk.mp4").write_bytes(b"\x00\x01 not a video " * 200)
    (folder / "empty.mkv").write_bytes(b"")
    write_video(folder / "quiet.mp4", numbered_frames(30, 160, 120), fps=10)
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        report = ws.scan([folder], workers=1)
        reasons = {Path(p).name: r for p, r in report.errors}
        assert set(reasons) == {"junk.mp4", "empty.mkv"}
        assert all("not a readable video" in r for r in reasons.values())
        assert report.processed == 1 and report.faces == 0 and report.tracks == 0
        by_name = {Path(m.path).name: m.to_dict() for m in ws.media()}
        assert by_name["quiet.mp4"]["kind"] == "video" and by_name["quiet.mp4"]["status"] == "ok"
        assert by_name["junk.mp4"]["status"] == "error"
        with pytest.raises(MediaError, match=r"junk\.mp4"):
            ws.search(folder / "junk.mp4")
        assert ws.search(folder / "quiet.mp4").tracks == []


def test_demo_clip_tracks_are_identified(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine
) -> None:
    from facesift.samples import CLIP_SHOWS

    with Workspace(tmp_path / "ws", engine=engine) as ws:
        ws.enroll_folder(demo.gallery, _metadata())
        report = ws.scan([demo.footage], case="clip", workers=1)
        assert report.processed == 1 and report.tracks >= 2
        tracks = ws.identify(case="clip").tracks
    named = {t.candidates[0].person: t for t in tracks if t.candidates[0].above_threshold}
    assert set(named) == {"Grace Hopper", "Eileen Collins"}
    for person, start, end, _, _ in CLIP_SHOWS[:2]:
        track = named[person]  # one track each, spanning their appearance (2 samples per s)
        assert start <= track.start < start + 0.5 and end - 0.5 - 1e-6 <= track.end < end
        assert track.candidates[0].band == "strong"
    others = [t for t in tracks if t not in named.values()]
    assert all(not t.candidates[0].above_threshold for t in others)


def test_identify_follows_what_is_filed_under_the_case(
    tmp_path: Path, hopper_path: Path, collins_path: Path, engine: FaceEngine
) -> None:
    """identify keeps its candidates between calls: filing an already stored photo under
    the case (no new face anywhere), a new decision, or a new gallery person must show."""
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        ws.scan([collins_path], case="a")
        ws.scan([hopper_path], case="b")
        assert [f.source.path for f in ws.identify(case="a").faces] == [str(collins_path)]
        ws.scan([hopper_path], case="a")  # stored already: only filed under "a"
        faces = ws.identify(case="a").faces
        assert sorted(f.source.path for f in faces) == sorted([str(collins_path), str(hopper_path)])
        assert all(f.candidates == [] for f in faces)  # nobody enrolled yet
        ws.enroll("Grace Hopper", [hopper_path.parent / hopper_path.name])
        faces = ws.identify(case="a").faces  # the enrolled face left, Collins is a candidate
        assert [f.candidates[0].person for f in faces] == ["Grace Hopper"]
        ws.review(faces[0].face_id, "Grace Hopper", "reject")
        (face,) = ws.identify(case="a").faces
        assert [d.verdict for d in face.decisions] == ["reject"]


def test_seen_before_finds_faces_scanned_since_the_last_search_without_a_rebuild(
    tmp_path: Path, hopper_path: Path, collins_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from facesift.match.gallery import GalleryIndex
    from facesift.store import vectors as vectors_module

    built: list[int] = []  # the size of every index built from scratch

    class Counted(GalleryIndex):
        def __init__(self, face_ids: np.ndarray, *args: object, **kwargs: object) -> None:
            built.append(len(face_ids))
            super().__init__(face_ids, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vectors_module, "GalleryIndex", Counted)
    with Workspace(tmp_path / "ws") as ws:
        ws.scan([collins_path])
        before = ws.seen_before(hopper_path)
        assert all(h.path != str(hopper_path) for f in before.faces for h in f.sightings)
        ws.scan([hopper_path])
        after = ws.seen_before(hopper_path)
    assert after.stored_faces > before.stored_faces
    best = after.faces[0].sightings[0]
    assert best.path == str(hopper_path) and best.score > 0.999
    assert before.stored_faces in built and after.stored_faces not in built  # grown, not rebuilt
