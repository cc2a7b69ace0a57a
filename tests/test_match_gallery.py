"""Gallery search: exact person ranking with max fusion, and the saved index's stamp."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesift.match import gallery as gallery_module
from facesift.match.gallery import EXACT_MAX, GalleryIndex, index_kind
from facesift.store import vectors as vectors_module
from facesift.store.vectors import FaissFiles, load_index, save_index
from facesift.vision.similarity import cosine_similarity, l2_normalize
from tests.galleries import clustered_gallery


def _brute_force(queries, vectors, person_ids, top):
    scores = cosine_similarity(queries, vectors)
    out = []
    for row in scores:
        best: dict[int, float] = {}
        for score, person in zip(row, person_ids, strict=True):
            best[int(person)] = max(best.get(int(person), -2.0), float(score))
        out.append(sorted(best.items(), key=lambda kv: -kv[1])[:top])
    return out


def test_people_ranked_by_their_best_face_exactly() -> None:
    rng = np.random.default_rng(7)
    # 300 people with 1 to 12 faces each: many faces of one person crowd the raw top-k.
    counts = rng.integers(1, 13, 300)
    person_ids = np.repeat(np.arange(300), counts)
    centres = rng.normal(size=(300, 128))
    vectors = centres[person_ids] + 0.6 * rng.normal(size=(len(person_ids), 128))
    face_ids = np.arange(1000, 1000 + len(person_ids))
    gallery = GalleryIndex(face_ids, person_ids, vectors.astype(np.float32))
    queries = centres[[0, 5, 17]] + 0.6 * rng.normal(size=(3, 128))
    for top in (1, 5, 40):
        got = gallery.search(queries.astype(np.float32), top)
        want = _brute_force(queries, vectors, person_ids, top)
        every_person = _brute_force(queries, vectors, person_ids, 300)
        for g, w, full in zip(got, want, every_person, strict=True):
            # Same scores in the same order; people may swap only within float32 ties.
            assert np.allclose([h.score for h in g], [s for _, s in w], atol=1e-5)
            assert g[0].person_id == w[0][0]
            true_best = dict(full)
            assert all(abs(true_best[h.person_id] - h.score) < 1e-5 for h in g)
            for hit in g:  # the reported face is the person's best face
                assert person_ids[face_ids == hit.face_id][0] == hit.person_id


def test_top_larger_than_gallery_and_empty_gallery() -> None:
    vectors = l2_normalize(np.eye(4, 8, dtype=np.float32))
    gallery = GalleryIndex(np.arange(4), np.array([1, 1, 2, 3]), vectors)
    hits = gallery.search(vectors[:1], top=10)[0]
    assert hits[0].person_id == 1 and len(hits) == 3
    empty = GalleryIndex(np.zeros(0), np.zeros(0), np.zeros((0, 0), np.float32))
    assert empty.search(vectors[:2], top=3) == [[], []]
    with pytest.raises(ValueError, match="differs"):
        gallery.search(np.ones((1, 5), np.float32), 1)


def test_saved_index_is_reused_only_while_its_stamp_matches(tmp_path: Path) -> None:
    vectors = np.random.default_rng(0).normal(size=(10, 16)).astype(np.float32)
    gallery = GalleryIndex(np.arange(10), np.arange(10) % 3, vectors)
    path = tmp_path / "g.faiss"
    save_index(gallery, path, {"gallery_version": 4, "model_sha256": "abc"})
    loaded = load_index(path, {"gallery_version": 4, "model_sha256": "abc"})
    assert loaded is not None and len(loaded) == 10
    a, b = gallery.search(vectors[:3], 2), loaded.search(vectors[:3], 2)
    assert [[h.person_id for h in r] for r in a] == [[h.person_id for h in r] for r in b]
    assert load_index(path, {"gallery_version": 5, "model_sha256": "abc"}) is None
    assert load_index(path, {"gallery_version": 4, "model_sha256": "zzz"}) is None
    path.write_bytes(b"garbage")
    assert load_index(path, {"gallery_version": 4, "model_sha256": "abc"}) is None


def test_an_hnsw_gallery_ranks_people_as_exact_search_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    face_ids, person_ids, vectors, queries = clustered_gallery(3, 1500, 60)
    exact = GalleryIndex(face_ids, person_ids, vectors, kind="exact")
    monkeypatch.setattr(gallery_module, "EXACT_MAX", len(vectors) - 1)  # auto: HNSW above it
    graph = GalleryIndex(face_ids, person_ids, vectors)
    assert (exact.kind, graph.kind) == ("exact", "hnsw")
    for top in (1, 5, 20):
        want = [[(h.person_id, round(h.score, 4)) for h in r] for r in exact.search(queries, top)]
        got = [[(h.person_id, round(h.score, 4)) for h in r] for r in graph.search(queries, top)]
        assert got == want
    path = tmp_path / "g.faiss"  # saved and loaded, it is still the graph
    save_index(graph, path, {"v": 1})
    loaded = load_index(path, {"v": 1})
    assert loaded is not None and loaded.kind == "hnsw"
    assert [h.person_id for h in loaded.search(queries[:1], 5)[0]] == [w[0] for w in want[0][:5]]


def test_the_index_kind_follows_the_gallery_size() -> None:
    assert index_kind(EXACT_MAX) == "exact" and index_kind(EXACT_MAX + 1) == "hnsw"
    assert index_kind(10, "hnsw") == "hnsw" and index_kind(10**7, "exact") == "exact"
    with pytest.raises(ValueError, match="unknown index kind"):
        index_kind(10, "annoy")


@pytest.mark.parametrize("exact_max", [EXACT_MAX, 100])
def test_a_saved_index_grows_with_added_faces_and_is_rebuilt_when_one_was_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exact_max: int
) -> None:
    monkeypatch.setattr(gallery_module, "EXACT_MAX", exact_max)  # 100: HNSW graphs
    face_ids, person_ids, vectors, queries = clustered_gallery(5, 1200, 40)
    built: list[int] = []

    class Counted(GalleryIndex):
        def __init__(self, *args: object, **kwargs: object) -> None:
            built.append(1)
            super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(vectors_module, "GalleryIndex", Counted)
    files = FaissFiles(tmp_path / "indexes")

    def opened(n: int, keep: np.ndarray | None = None) -> list[list[tuple[int, float]]]:
        rows = np.arange(n) if keep is None else keep
        stored = (face_ids[rows], person_ids[rows], vectors[rows])
        index = files.open("faces", {"model": "m"}, lambda: stored)
        assert len(index) == len(rows)
        got = [[(h.person_id, round(h.score, 4)) for h in r] for r in index.search(queries, 5)]
        fresh = GalleryIndex(*stored, kind="exact")
        assert got == [
            [(h.person_id, round(h.score, 4)) for h in r] for r in fresh.search(queries, 5)
        ]
        return got

    opened(800)
    assert len(built) == 1
    opened(1000)  # a scan added faces: added to the saved index, not rebuilt
    opened(1200)
    opened(1200)  # unchanged: the saved index as it is
    assert len(built) == 1
    opened(1200, np.delete(np.arange(1200), 10))  # a face removed: rebuilt
    assert len(built) == 2
    (tmp_path / "indexes" / "faces.ids.npz").write_bytes(b"altered")
    opened(1200)  # an unreadable saved index is never extended
    assert len(built) == 3
