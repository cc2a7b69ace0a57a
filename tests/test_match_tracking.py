"""The tracker on synthetic faces: boxes that move, vectors that identify."""

from __future__ import annotations

import numpy as np

from facesift.match.tracking import Sighting, Tracker
from facesift.vision.face import Face
from facesift.vision.quality import Quality

RNG = np.random.default_rng(7)
PEOPLE = {name: RNG.normal(size=128) for name in "ABCD"}


def face(person: str, x: float, y: float, width: float = 60, noise: float = 0.25) -> Face:
    """A face of `person` centred at (x, y): their vector plus noise (cosine to it ≈ 0.97)."""
    base = PEOPLE[person] / np.linalg.norm(PEOPLE[person])
    vector = base + noise * RNG.normal(size=128) / np.sqrt(128)
    half = width / 2
    return Face(
        bbox=(x - half, y - half, x + half, y + half),
        landmarks=np.zeros((5, 2), np.float32),
        det_score=1.0,
        detector="test",
        quality=Quality(width, 200.0, width / 200),
        embedding=vector.astype(np.float32),
    )


def run(tracker: Tracker, frames: list[list[tuple[str, Face]]], step: float = 0.5) -> dict:
    """Feed frames (who, face) at `step` seconds apart; returns person -> set of track ids."""
    seen: dict[str, set[int]] = {}
    for k, faces in enumerate(frames):
        ids = tracker.update(k, k * step, [Sighting(k, k * step, f) for _, f in faces])
        for (who, _), track_id in zip(faces, ids, strict=True):
            seen.setdefault(who, set()).add(track_id)
    return seen


def test_people_who_cross_keep_their_own_tracks() -> None:
    frames = [
        [("A", face("A", 100 + 60 * k, 200)), ("B", face("B", 700 - 60 * k, 210))]
        for k in range(11)  # they pass each other at k = 5
    ]
    seen = run(Tracker(), frames)
    assert len(seen["A"]) == 1 and len(seen["B"]) == 1
    assert seen["A"] != seen["B"]


def test_missed_detections_and_short_occlusion_do_not_split_a_track() -> None:
    frames: list[list[tuple[str, Face]]] = []
    for k in range(12):
        visible = k not in (3, 6, 7)  # missed once, then hidden for a second
        frames.append([("A", face("A", 300 + 10 * k, 300))] if visible else [])
    seen = run(Tracker(), frames)
    assert len(seen["A"]) == 1
    track = Tracker()
    run(track, frames)
    assert track.tracks[0].start == 0.0 and track.tracks[0].end == 5.5


def test_a_long_absence_starts_a_new_track() -> None:
    frames = [[("A", face("A", 300, 300))] for _ in range(3)]
    frames += [[] for _ in range(5)]  # 2.5 s away: longer than max_gap
    frames += [[("A", face("A", 300, 300))] for _ in range(3)]
    seen = run(Tracker(), frames)
    assert len(seen["A"]) == 2


def test_a_different_person_in_the_same_place_is_not_linked() -> None:
    # A leaves, and a second later B stands exactly where A was.
    frames = [[("A", face("A", 300, 300))] for _ in range(3)]
    frames += [[("B", face("B", 300, 300))] for _ in range(3)]
    seen = run(Tracker(), frames)
    assert seen["A"].isdisjoint(seen["B"])


def test_a_far_jump_needs_a_clear_appearance_match() -> None:
    # Fast motion (4 face widths in half a second) is followed when the face clearly matches.
    frames = [[("A", face("A", 100 + 240 * k, 300))] for k in range(3)]
    assert len(run(Tracker(), frames)["A"]) == 1
    # An implausible jump (the other side of a 1080p frame in half a second) is not.
    frames = [[("C", face("C", 100, 300))], [("C", face("C", 1800, 300))]]
    assert len(run(Tracker(), frames)["C"]) == 2


def test_template_prefers_the_best_faces() -> None:
    tracker = Tracker()
    faces = [face("D", 300, 300, width=w) for w in (80, 90, 105, 115, 100, 92, 86, 95)]
    for k, f in enumerate(faces):
        tracker.update(k, k * 0.5, [Sighting(k, k * 0.5, f)])
    (track,) = tracker.tracks
    best = track.best(3)
    assert [s.face.width for s in best] == [115, 105, 100]
    template = track.template(3)
    expected = np.mean([s.face.embedding / np.linalg.norm(s.face.embedding) for s in best], 0)
    np.testing.assert_allclose(template, expected / np.linalg.norm(expected), rtol=1e-5)


def test_resumed_tracker_continues_open_tracks() -> None:
    first = Tracker()
    run(first, [[("A", face("A", 300, 300))] for _ in range(4)])
    resumed = Tracker()
    resumed.resume(first.open_tracks(2.0), next_id=2)
    ids = resumed.update(4, 2.0, [Sighting(4, 2.0, face("A", 305, 300))])
    assert ids == [first.tracks[0].id]
    ids = resumed.update(5, 2.5, [Sighting(5, 2.5, face("B", 900, 300))])
    assert ids == [2]
