"""The gallery index: enrolled face vectors in FAISS, searched person by person.

A person is a template of all their enrolled faces; their score against a probe is the best
score over those faces (max fusion), so a single good photo of them is enough to rank them.
Candidates are people, never single photos.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import faiss
import numpy as np

from facesift.vision.similarity import l2_normalize


@dataclass(frozen=True)
class PersonHit:
    person_id: int
    score: float
    face_id: int  # the enrolled face that scored best


class PeopleIndex(Protocol):
    """What a gallery index does, wherever its vectors live (FAISS in memory, a vector
    database): rank people for probe vectors by their best enrolled face."""

    @property
    def people(self) -> int: ...

    def __len__(self) -> int: ...

    def search(self, queries: np.ndarray, top: int) -> list[list[PersonHit]]:
        """For each query row, the `top` best people by their best face score, descending."""
        ...


# Up to EXACT_MAX vectors a gallery is searched exactly (every vector scored: a few ms at this
# size on 2 cores); above, through an HNSW graph over the same full vectors, whose search time
# grows with the logarithm of the size. HNSW_* are its graph degree and search breadths:
# benchmarks/search_scale.py measures the time and the recall against exact search.
EXACT_MAX = 100_000
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
HNSW_EF_SEARCH = 384
INDEX_KINDS = ("auto", "exact", "hnsw")


def index_kind(size: int, kind: str = "auto") -> str:
    """The index a gallery of `size` vectors is kept in: "exact" or "hnsw" ("auto": by size)."""
    if kind not in INDEX_KINDS:
        raise ValueError(f"unknown index kind {kind!r} (one of {', '.join(INDEX_KINDS)})")
    if kind == "auto":
        return "exact" if size <= EXACT_MAX else "hnsw"
    return kind


def new_index(dim: int, kind: str) -> faiss.Index:
    """An empty inner-product index of `kind` ("exact" or "hnsw") for `dim`-d vectors."""
    if kind == "hnsw":
        index = faiss.IndexHNSWFlat(dim, HNSW_M, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        return index
    return faiss.IndexFlatIP(dim)


class GalleryIndex:
    """Inner-product search over L2-normalised embeddings (cosine similarity): exact up to
    EXACT_MAX vectors, HNSW above (`kind` forces one)."""

    def __init__(
        self,
        face_ids: np.ndarray,
        person_ids: np.ndarray,
        vectors: np.ndarray,
        kind: str = "auto",
    ) -> None:
        if not (len(face_ids) == len(person_ids) == len(vectors)):
            raise ValueError("face ids, person ids and vectors must have the same length")
        self.face_ids = np.asarray(face_ids, dtype=np.int64)
        self.person_ids = np.asarray(person_ids, dtype=np.int64)
        self.dim = int(vectors.shape[1]) if len(vectors) else 0
        self.kind = index_kind(len(vectors), kind)
        self.index: faiss.Index = new_index(max(self.dim, 1), self.kind)
        if len(vectors):
            self.index.add(l2_normalize(vectors))

    def __len__(self) -> int:
        return int(self.index.ntotal)

    def add(self, face_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray) -> None:
        """Add faces after those held (an HNSW graph grows; it is not rebuilt)."""
        if not (len(face_ids) == len(person_ids) == len(vectors)):
            raise ValueError("face ids, person ids and vectors must have the same length")
        if len(vectors) and self.dim and vectors.shape[1] != self.dim:
            raise ValueError(
                f"vector size {vectors.shape[1]} differs from the gallery's {self.dim}"
            )
        self.face_ids = np.concatenate([self.face_ids, np.asarray(face_ids, np.int64)])
        self.person_ids = np.concatenate([self.person_ids, np.asarray(person_ids, np.int64)])
        if len(vectors):
            self.index.add(l2_normalize(vectors))

    @property
    def people(self) -> int:
        return len(np.unique(self.person_ids))

    def content_sha256(self) -> str:
        """SHA-256 of what the index holds (ids and normalised vectors): compared with the
        store's, so that an altered index file is never trusted."""
        vectors = self.index.reconstruct_n(0, len(self)) if len(self) else np.zeros((0, 0))
        return vectors_sha256(self.face_ids, self.person_ids, vectors, held=True)

    def search(self, queries: np.ndarray, top: int) -> list[list[PersonHit]]:
        """For each query row, the `top` best people by their best face score, descending."""
        queries = l2_normalize(queries)
        if len(self) == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        if queries.shape[1] != self.dim:
            raise ValueError(f"query size {queries.shape[1]} differs from the gallery's {self.dim}")
        return rank_people(self._nearest, queries, top, len(self), self.people)

    def _nearest(self, queries: np.ndarray, k: int) -> Neighbours:
        if self.kind == "hnsw":  # the graph must be searched at least k wide
            faiss.ParameterSpace().set_index_parameter(
                self.index, "efSearch", max(HNSW_EF_SEARCH, k)
            )
        scores, positions = self.index.search(queries, k)
        found = positions >= 0
        face_ids = np.where(found, self.face_ids[positions], -1)
        return scores, face_ids, np.where(found, self.person_ids[positions], -1)


# For each query, its k nearest faces best first: (scores, face ids, person ids), k×n arrays;
# a face id of -1 where fewer than k were found.
Neighbours = tuple[np.ndarray, np.ndarray, np.ndarray]


def rank_people(
    nearest: Callable[[np.ndarray, int], Neighbours],
    queries: np.ndarray,
    top: int,
    faces: int,
    people: int,
) -> list[list[PersonHit]]:
    """The `top` people for each query by their best face, from any nearest-face search:
    asks for more faces (4× each time) until every query has met `top` distinct people (or
    all `faces`), so that a person with many faces cannot crowd the others out."""
    wanted = min(top, people)
    k = min(faces, max(4 * wanted, 16))
    while True:
        scores, face_ids, person_ids = nearest(queries, k)
        results = [_people(*row, wanted) for row in zip(scores, face_ids, person_ids, strict=True)]
        if k == faces or all(len(r) >= wanted for r in results):
            return results
        k = min(faces, k * 4)


def _people(
    scores: np.ndarray, face_ids: np.ndarray, person_ids: np.ndarray, wanted: int
) -> list[PersonHit]:
    hits: dict[int, PersonHit] = {}
    for score, face, person in zip(scores, face_ids, person_ids, strict=True):
        if face < 0:
            continue
        if int(person) not in hits:  # best first: the first is the person's max
            hits[int(person)] = PersonHit(int(person), float(score), int(face))
            if len(hits) == wanted:
                break
    return list(hits.values())


def search_people(
    standard: PeopleIndex,
    low_res: PeopleIndex,
    probes: np.ndarray,
    small: np.ndarray,
    top: int,
) -> list[list[PersonHit]]:
    """The `top` ranked people for each probe vector: probes marked `small` (narrower than
    facesift.vision.lowres.LOW_RES_PROBE_PX) against the people's low-resolution templates,
    the others against their enrolled faces. The one candidate search: the product's search
    and identify, and `eval identify`, all rank people with it."""
    hits: list[list[PersonHit]] = [[] for _ in range(len(probes))]
    for index, rows in ((standard, np.flatnonzero(~small)), (low_res, np.flatnonzero(small))):
        if len(rows):
            for row, found in zip(rows, index.search(probes[rows], top), strict=True):
                hits[row] = found
    return hits


def vectors_sha256(
    face_ids: np.ndarray, person_ids: np.ndarray, vectors: np.ndarray, *, held: bool = False
) -> str:
    """The content hash of a gallery: ids and the float32 unit vectors an index holds, in
    order, bit for bit (`held`: `vectors` are those, read back from an index; else they are
    normalised here as an index normalises them)."""
    digest = hashlib.sha256()
    digest.update(np.asarray(face_ids, dtype="<i8").tobytes())
    digest.update(np.asarray(person_ids, dtype="<i8").tobytes())
    if len(vectors):
        unit = vectors if held else l2_normalize(vectors)
        digest.update(np.ascontiguousarray(unit, dtype="<f4").tobytes())
    return digest.hexdigest()
