"""FAISS and Milvus Lite rank the same people: LFW View 1 identification with each index.

Run: python benchmarks/vector_backends.py    (needs the milvus extra: pymilvus, milvus-lite)

Every LFW View 1 person with two or more photos is enrolled with their first photo; every
other photo of theirs is a probe. Both indexes hold the same vectors (facesift's default
pipeline, cached with the clustering benchmark's) and are searched for each probe's top 5
people: rank-1 with each, and the share of probes whose five candidates (people and order)
are the same in both.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from _results import write_result
from search_scale import lfw_vectors

from facesift.match.gallery import GalleryIndex
from facesift.store.milvus import MilvusIndexes

TOP = 5


def main() -> None:
    vectors, people = lfw_vectors()
    several = np.flatnonzero(np.bincount(people) >= 2)
    first = {p: int(np.flatnonzero(people == p)[0]) for p in several}
    enrolled = np.array(sorted(first.values()))
    probes = np.array([i for i in range(len(people)) if people[i] in first and i not in enrolled])
    gallery = (enrolled, people[enrolled], vectors[enrolled])
    timings: dict[str, float] = {}
    ranked: dict[str, list[list[int]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        indexes = {
            "faiss": GalleryIndex(*gallery, kind="exact"),
            "milvus_lite": MilvusIndexes(str(Path(folder) / "milvus.db")).open(
                "lfw", {"benchmark": "vector_backends"}, lambda: gallery
            ),
        }
        for name, index in indexes.items():
            start = time.perf_counter()
            hits = index.search(vectors[probes], TOP)
            timings[name] = time.perf_counter() - start
            ranked[name] = [[h.person_id for h in r] for r in hits]
    truth = people[probes]
    figures = {
        name: {
            "rank1": float(np.mean([r[0] == t for r, t in zip(rows, truth, strict=True)])),
            "search_seconds": round(timings[name], 3),
        }
        for name, rows in ranked.items()
    }
    same = np.mean([a == b for a, b in zip(ranked["faiss"], ranked["milvus_lite"], strict=True)])
    figures["same_top5_share"] = float(same)
    figures["rank1_difference_points"] = 100 * abs(
        figures["faiss"]["rank1"] - figures["milvus_lite"]["rank1"]
    )
    print(figures)
    write_result(
        "vector_backends",
        figures,
        {"gallery_people": len(enrolled), "probes": len(probes), "top": TOP},
    )


if __name__ == "__main__":
    main()
