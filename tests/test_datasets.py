"""End to end on the development datasets (../shared/datasets): LFW View 1 and real photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesift import FaceEngine, Workspace

pytestmark = pytest.mark.datasets


def _lfw_file(root: Path, name: str, number: str) -> Path:
    return root / "images" / name / f"{name}_{int(number):04d}.jpg"


def _dev_test_people(lfw: Path, limit: int) -> tuple[list[tuple[str, Path, Path]], list[Path]]:
    """(name, gallery photo, probe photo) for the first `limit` people of the same-person
    pairs, and one photo each of `limit` people from the different-person pairs who are not
    among them (non-mated probes)."""
    lines = (lfw / "pairsDevTest.txt").read_text().splitlines()
    same_count = int(lines[0])
    mated: dict[str, tuple[str, Path, Path]] = {}
    for line in lines[1 : 1 + same_count]:
        name, i, j = line.split()
        mated.setdefault(name, (name, _lfw_file(lfw, name, i), _lfw_file(lfw, name, j)))
    chosen = list(mated.values())[:limit]
    names = set(mated)
    strangers: dict[str, Path] = {}
    for line in lines[1 + same_count :]:
        a, i, b, j = line.split()
        for name, number in ((a, i), (b, j)):
            if name not in names and name not in strangers:
                strangers[name] = _lfw_file(lfw, name, number)
    return chosen, list(strangers.values())[:limit]


def test_lfw_open_set_identification(tmp_path: Path, lfw: Path, engine: FaceEngine) -> None:
    people, strangers = _dev_test_people(lfw, limit=150)
    assert len(people) == 150 and len(strangers) == 150
    ws = Workspace(tmp_path / "ws", engine=engine)
    refused = []
    for name, gallery_photo, _ in people:
        outcome = ws.enroll(name, [gallery_photo])[0]
        if not outcome.ok:
            assert outcome.status == "ambiguous", outcome  # LFW photos often show two people
            refused.append(name)
    # An analyst crops such photos; here those people simply stay out of the gallery.
    assert len(refused) <= 0.05 * len(people), refused
    people = [p for p in people if p[0] not in refused]
    mated_top: list[tuple[bool, float]] = []  # (rank-1 is right, rank-1 score)
    for name, _, probe in people:
        best = _centred_face(ws.search(probe, top=5).faces).candidates[0]
        mated_top.append((best.person == name, best.score))
    non_mated_top = [
        _centred_face(ws.search(p, top=1).faces).candidates[0].score for p in strangers
    ]

    n = len(people)
    rank1 = sum(right for right, _ in mated_top) / n
    accepted = sum(right and score >= ws.threshold for right, score in mated_top) / n
    rejected = float(np.mean(np.array(non_mated_top) < ws.threshold))
    # Investigation mode: the threshold that lets 10% of strangers through (FPIR 0.1).
    strict = float(np.quantile(non_mated_top, 0.9))
    fnir = 1 - sum(right and score > strict for right, score in mated_top) / n
    print(
        f"{n} people ({len(refused)} refused): rank-1 {rank1:.3f}; at the default threshold "
        f"mated accepted {accepted:.3f}, non-mated rejected {rejected:.3f}; "
        f"FNIR at FPIR 0.1: {fnir:.3f} (threshold {strict:.3f})"
    )
    assert rank1 >= 0.93
    assert accepted >= 0.92
    assert rejected >= 0.33
    assert fnir <= 0.12


def _centred_face(faces: list) -> object:
    """The face an LFW photo is of: the one nearest the centre of the 250×250 image."""
    return min(faces, key=lambda f: abs((f.bbox[0] + f.bbox[2]) / 2 - 125))


def test_shared_stills(tmp_path: Path, datasets: Path, engine: FaceEngine) -> None:
    stills = datasets / "media" / "stills"
    ws = Workspace(tmp_path / "ws", engine=engine)
    assert ws.enroll("Barack Obama", [stills / "obama.jpg"])[0].status == "enrolled"
    assert ws.enroll("Joe Biden", [stills / "biden.jpg"])[0].status == "enrolled"
    for photo in ("obama2.jpg", "obama3.jpg", "obama_partial_face.jpg", "obama_partial_face2.jpg"):
        faces = ws.search(stills / photo).faces
        assert faces, photo
        best = faces[0].candidates[0]
        assert (best.person, best.above_threshold) == ("Barack Obama", True), photo
    # The RGBA PNG decodes (alpha composited) and its face is found.
    assert ws.search(stills / "32bit.png").faces
    assert not ws.verify(stills / "obama.jpg", stills / "biden.jpg").same_person
    assert ws.verify(stills / "obama.jpg", stills / "obama2.jpg").same_person


def test_group_photo_faces(tmp_path: Path, engine: FaceEngine, datasets: Path) -> None:
    faces = engine.analyze(datasets / "media" / "group_photo.jpg")
    assert len(faces) == 6
    widths = np.array([f.width for f in faces])
    assert (widths > 60).all() and (widths < 130).all()
    # Six different people: at the product's own decision threshold (the workspace's policy,
    # cosine ~0.914 with the shipped calibration) no two faces of the photo are taken for one
    # person. The closest two score 0.911. The bound this replaces (0.95) passed with them
    # scoring anywhere up to 0.95, where the product, deciding at 0.914, calls them one person.
    threshold = Workspace(tmp_path / "ws", engine=engine).threshold
    scores = engine.similarity(
        np.stack([f.embedding for f in faces]), np.stack([f.embedding for f in faces])
    )
    off_diagonal = scores[~np.eye(len(faces), dtype=bool)]
    print(f"group photo: closest two of six people score {off_diagonal.max():.4f}; "
          f"threshold {threshold:.4f}")  # fmt: skip
    assert off_diagonal.max() < threshold
