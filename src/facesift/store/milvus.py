"""Gallery indexes in Milvus: Milvus Lite (a local file) for one machine and for tests, or a
Milvus server or cluster by its URI — the same client code.

One collection per index (a model's enrolled faces, or their low-resolution templates): the
face id as primary key, the person id, the L2-normalised vector, searched by inner product.
Like the FAISS files, a collection is derived data: it carries the stamp it was built from
(gallery version, model, the vectors' content hash) as a property and is rebuilt from
the store when the stamp or its row count differs from what the store holds; rows added after
those it holds (a scan's new faces) are inserted instead.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from facesift.errors import WorkspaceError
from facesift.match.gallery import Neighbours, PeopleIndex, PersonHit, rank_people, vectors_sha256
from facesift.store.vectors import GalleryVectors
from facesift.vision.similarity import l2_normalize

STAMP = "facesift_stamp"  # the collection property holding what it was built from
MAX_TOPK = 16_384  # the most neighbours Milvus returns for one query
_BATCH = 5_000


class MilvusIndexes:
    """Gallery indexes kept in Milvus collections named `prefix`_NAME."""

    def __init__(self, uri: str, prefix: str = "facesift") -> None:
        try:
            from pymilvus import MilvusClient
        except ImportError:
            raise WorkspaceError(
                "Milvus needs pymilvus (and milvus-lite for a local file): "
                "pip install 'facesift[milvus]'"
            ) from None
        self.uri = uri
        self.prefix = prefix
        self.client: Any = MilvusClient(uri)

    def open(
        self, name: str, stamp: dict[str, object], vectors: Callable[[], GalleryVectors]
    ) -> PeopleIndex:
        face_ids, person_ids, matrix = vectors()
        checked = {**stamp, "vectors_sha256": vectors_sha256(face_ids, person_ids, matrix)}
        collection = f"{self.prefix}_{re.sub(r'[^A-Za-z0-9_]', '_', name)}"
        if (
            len(face_ids)
            and not self._current(collection, checked, len(face_ids))
            and not self._extend(collection, checked, face_ids, person_ids, matrix)
        ):
            self._build(collection, checked, face_ids, person_ids, matrix)
        people = len(np.unique(person_ids))
        dim = int(matrix.shape[1]) if len(matrix) else 0
        return MilvusGallery(self.client, collection, len(face_ids), people, dim)

    def _saved(self, collection: str) -> tuple[dict[str, object], int] | None:
        """The stamp the collection was built from and the rows it holds, if it exists."""
        if not self.client.has_collection(collection):
            return None
        described = self.client.describe_collection(collection)
        try:
            saved = json.loads((described.get("properties") or {}).get(STAMP, "{}"))
        except ValueError:
            return None
        counted = int(self.client.get_collection_stats(collection).get("row_count", -1))
        return (saved, counted) if isinstance(saved, dict) else None

    def _current(self, collection: str, stamp: dict[str, object], rows: int) -> bool:
        """Whether the collection was built from `stamp` and holds its rows."""
        return self._saved(collection) == (stamp, rows)

    def _extend(
        self,
        collection: str,
        stamp: dict[str, object],
        face_ids: np.ndarray,
        person_ids: np.ndarray,
        matrix: np.ndarray,
    ) -> bool:
        """Add the rows after those the collection holds, when it holds exactly the first of
        them (checked by the content hash of its stamp): a scan's new faces ("seen before")
        cost their own insertion, not the whole collection's. False where it must be built."""
        saved = self._saved(collection)
        if saved is None or not 0 < saved[1] < len(face_ids):
            return False
        held = saved[1]
        if saved[0].get("vectors_sha256") != vectors_sha256(
            face_ids[:held], person_ids[:held], matrix[:held]
        ):
            return False
        self._stamp(collection, {})  # none while rows are added: if interrupted, built again
        self._insert(collection, face_ids[held:], person_ids[held:], matrix[held:])
        self._stamp(collection, stamp)
        return True

    def _build(
        self,
        collection: str,
        stamp: dict[str, object],
        face_ids: np.ndarray,
        person_ids: np.ndarray,
        matrix: np.ndarray,
    ) -> None:
        from pymilvus import DataType

        if self.client.has_collection(collection):
            self.client.drop_collection(collection)
        schema = self.client.create_schema(auto_id=False)
        schema.add_field("face", DataType.INT64, is_primary=True)
        schema.add_field("person", DataType.INT64)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=int(matrix.shape[1]))
        index = self.client.prepare_index_params()
        index.add_index("vector", index_type="FLAT", metric_type="IP")
        self.client.create_collection(collection, schema=schema, index_params=index)
        self._insert(collection, face_ids, person_ids, matrix)
        self.client.load_collection(collection)
        self._stamp(collection, stamp)  # last: an interrupted build has none, so is built again

    def _stamp(self, collection: str, stamp: dict[str, object]) -> None:
        """Record what the collection was built from (empty: nothing to trust)."""
        self.client.alter_collection_properties(
            collection, properties={STAMP: json.dumps(stamp, sort_keys=True)}
        )

    def _insert(
        self, collection: str, face_ids: np.ndarray, person_ids: np.ndarray, matrix: np.ndarray
    ) -> None:
        normalised = l2_normalize(np.asarray(matrix, np.float32))
        for start in range(0, len(face_ids), _BATCH):
            end = start + _BATCH
            self.client.insert(
                collection,
                [
                    {"face": int(f), "person": int(p), "vector": v.tolist()}
                    for f, p, v in zip(
                        face_ids[start:end],
                        person_ids[start:end],
                        normalised[start:end],
                        strict=True,
                    )
                ],
            )
        self.client.flush(collection)


class MilvusGallery:
    """A gallery index searched in a Milvus collection (see MilvusIndexes)."""

    def __init__(self, client: Any, collection: str, faces: int, people: int, dim: int) -> None:
        self.client = client
        self.collection = collection
        self._faces = faces
        self._people = people
        self.dim = dim

    @property
    def people(self) -> int:
        return self._people

    def __len__(self) -> int:
        return self._faces

    def search(self, queries: np.ndarray, top: int) -> list[list[PersonHit]]:
        queries = l2_normalize(np.asarray(queries, np.float32))
        if self._faces == 0 or len(queries) == 0:
            return [[] for _ in range(len(queries))]
        if queries.shape[1] != self.dim:
            raise ValueError(f"query size {queries.shape[1]} differs from the gallery's {self.dim}")
        reachable = min(self._faces, MAX_TOPK)
        return rank_people(self._nearest, queries, top, reachable, self._people)

    def _nearest(self, queries: np.ndarray, k: int) -> Neighbours:
        found = self.client.search(
            self.collection,
            data=queries.tolist(),
            limit=k,
            output_fields=["person"],
            search_params={"metric_type": "IP"},
        )
        scores = np.full((len(queries), k), -np.inf, np.float32)
        faces = np.full((len(queries), k), -1, np.int64)
        people = np.full((len(queries), k), -1, np.int64)
        for row, hits in enumerate(found):
            for col, hit in enumerate(hits):
                scores[row, col] = hit["distance"]
                faces[row, col] = hit["face"]  # the primary key
                people[row, col] = hit["person"]
        return scores, faces, people
