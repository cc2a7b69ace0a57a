"""Gallery indexes in Milvus Lite: the same people, scores and faces as FAISS's exact search,
kept in step with the store like the FAISS files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app as cli
from facesift.match.gallery import GalleryIndex
from facesift.samples import DemoCase
from tests.galleries import clustered_gallery

pytest.importorskip("pymilvus", reason="pymilvus is not installed (the dev extras install it)")
pytest.importorskip("milvus_lite", reason="milvus-lite is not installed (the dev extras)")

from facesift.store.milvus import MilvusIndexes


def test_milvus_ranks_people_as_exact_search_does(tmp_path: Path) -> None:
    face_ids, person_ids, vectors, queries = clustered_gallery(5, 800, 40, first_face_id=100)
    exact = GalleryIndex(face_ids, person_ids, vectors, kind="exact")
    milvus = MilvusIndexes(str(tmp_path / "milvus.db")).open(
        "standard", {"gallery_version": 1}, lambda: (face_ids, person_ids, vectors)
    )
    assert (len(milvus), milvus.people) == (len(exact), exact.people)
    for top in (1, 5, 30):
        want = exact.search(queries, top)
        got = milvus.search(queries, top)
        assert [[h.person_id for h in r] for r in got] == [[h.person_id for h in r] for r in want]
        assert [[h.face_id for h in r] for r in got] == [[h.face_id for h in r] for r in want]
        assert np.allclose([h.score for r in got for h in r], [h.score for r in want for h in r],
                           atol=1e-5)  # fmt: skip


def test_a_workspace_on_milvus_finds_what_it_finds_on_faiss(
    tmp_path: Path, demo: DemoCase, engine: FaceEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = str(tmp_path / "milvus.db")
    on_faiss = Workspace(tmp_path / "faiss", engine=engine)
    on_milvus = Workspace(tmp_path / "milvus", engine=engine, indexes=MilvusIndexes(uri))
    for ws in (on_faiss, on_milvus):
        ws.enroll_folder(demo.gallery)
    a, b = on_faiss.search(demo.scene), on_milvus.search(demo.scene)
    ranked = [[(c.person, round(c.score, 4)) for c in f.candidates] for f in a.faces]
    assert ranked == [[(c.person, round(c.score, 4)) for c in f.candidates] for f in b.faces]
    assert any(f.candidates and f.candidates[0].above_threshold for f in b.faces)
    built: list[str] = []
    original = MilvusIndexes._build
    monkeypatch.setattr(
        MilvusIndexes,
        "_build",
        lambda self, name, *rest: built.append(name) or original(self, name, *rest),
    )
    again = Workspace(tmp_path / "milvus", engine=engine, indexes=MilvusIndexes(uri))
    again.search(demo.scene)
    assert built == []  # the collection is current: reused
    again.enroll("Someone", [demo.evidence / "hopper_blurred.webp"])
    found = again.search(demo.evidence / "hopper_blurred.webp")
    assert found.faces[0].candidates[0].person == "Someone"  # the gallery changed: in step
    assert built == []  # by inserting the new face, not by a rebuild


def test_the_cli_keeps_the_gallery_in_milvus(tmp_path: Path, demo: DemoCase) -> None:
    uri = tmp_path / "gallery.db"
    base = ["-w", str(tmp_path / "ws"), "--milvus", str(uri)]
    runner = CliRunner()
    assert runner.invoke(cli, [*base, "enroll", str(demo.gallery)]).exit_code == 0
    found = runner.invoke(cli, [*base, "search", str(demo.scene), "--json"])
    assert found.exit_code == 0, found.output
    people = {c["person"] for f in json.loads(found.stdout)["faces"] for c in f["candidates"]}
    assert people == {"Grace Hopper", "Eileen Collins"}
    assert MilvusIndexes(str(uri)).client.has_collection(
        "facesift_dlib_face_recognition_resnet_model_v1_flip"
    )


def test_a_collection_grows_with_added_faces_and_is_rebuilt_when_one_was_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    face_ids, person_ids, vectors, queries = clustered_gallery(6, 600, 30)
    indexes = MilvusIndexes(str(tmp_path / "milvus.db"))
    built: list[int] = []
    build = indexes._build
    monkeypatch.setattr(
        indexes, "_build", lambda c, s, f, *rest: (built.append(len(f)), build(c, s, f, *rest))
    )

    def opened(rows: np.ndarray) -> None:
        stored = (face_ids[rows], person_ids[rows], vectors[rows])
        milvus = indexes.open("faces", {"model": "m"}, lambda: stored)
        exact = GalleryIndex(*stored, kind="exact")
        assert len(milvus) == len(rows)
        got, want = milvus.search(queries, 5), exact.search(queries, 5)
        assert [[h.face_id for h in r] for r in got] == [[h.face_id for h in r] for r in want]

    opened(np.arange(900))
    opened(np.arange(1000))  # a scan added faces: inserted, not rebuilt
    opened(np.arange(1100))
    opened(np.arange(1100))  # unchanged
    assert built == [900]
    opened(np.delete(np.arange(1100), 7))  # a face removed: rebuilt
    assert built == [900, 1099]
