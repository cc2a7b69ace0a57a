"""Gallery search at scale: FAISS exact, HNSW (what `auto` picks above EXACT_MAX) and IVF-PQ
compressed codes, on galleries of synthetic faces sampled around real LFW identities.

Run: python benchmarks/search_scale.py --faces N [--index auto|exact|hnsw|ivfpq] [--json]
     python benchmarks/search_scale.py            # the runs README.md cites (results file)

With --faces, one gallery of N vectors is built and {"faces", "index", "build_s",
"query_ms_p50", "query_ms_p99", "recall_at_50", "memory_mb"} printed (--json: as JSON).

The vectors: every LFW View 1 photo embedded by facesift's default pipeline (cached in
benchmarks/.cache with the clustering benchmark's embeddings). A synthetic identity is the
mean of the LFW faces plus the sum of two real people's offsets from that mean, scaled back to
a real person's offset length (so it is as distinct as a real person, and new); its faces are
that point plus a real face's offset from its own person's mean (how one person's photos
spread), normalised. Queries are faces of gallery identities held apart from the gallery
(another offset each), searched one at a time as a user's search is. Recall@50: the share of
exact search's 50 nearest faces that the index returns, on the same vectors. Memory: the
index's serialised size (what it holds in memory, less FAISS's small bookkeeping).
"""

from __future__ import annotations

import argparse
import json
import time
from functools import partial
from typing import Any

import faiss
import numpy as np
from _results import write_result
from clustering import _cached, _facesift_embed, _facesift_pipeline, lfw_photos

from facesift.match.gallery import EXACT_MAX, HNSW_EF_SEARCH, index_kind, new_index

TOP = 50
QUERIES = 500
SEED = 7
IVF_LISTS = 4096
PQ_BYTES = 32  # 4 dimensions per byte
IVF_PROBES = 64


def lfw_vectors() -> tuple[np.ndarray, np.ndarray]:
    """LFW View 1's faces (normalised) and their people's indices."""
    photos = lfw_photos()
    embedded = _cached(
        "facesift", _facesift_pipeline(), photos, None, partial(_facesift_embed, photos), True
    )
    keep = ~np.isnan(embedded.vectors).any(axis=1)
    names = np.array([p.parent.name for p in photos])[keep]
    vectors = embedded.vectors[keep].astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors, np.unique(names, return_inverse=True)[1]


def synthetic(faces: int, queries: int, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """(gallery, held-apart queries) of synthetic faces around real LFW identities."""
    vectors, people = lfw_vectors()
    rng = np.random.default_rng(seed)
    centre = vectors.mean(axis=0)
    means = np.stack([vectors[people == p].mean(axis=0) for p in range(people.max() + 1)])
    offsets = means - centre
    length = float(np.median(np.linalg.norm(offsets, axis=1)))
    several = np.flatnonzero(np.bincount(people)[people] >= 2)
    spread = vectors[several] - means[people[several]]  # how one person's photos vary
    identities = faces // 2 + 1
    a, b = rng.integers(0, len(means), (2, identities))
    mixed = offsets[a] + offsets[b]
    mixed *= length / np.linalg.norm(mixed, axis=1, keepdims=True)
    centres = centre + mixed
    owner = np.sort(rng.integers(0, identities, faces))  # 1–5 faces per identity, about 2
    gallery = centres[owner] + spread[rng.integers(0, len(spread), faces)]
    asked = rng.choice(np.unique(owner), queries, replace=False)
    probes = centres[asked] + spread[rng.integers(0, len(spread), queries)]
    for block in (gallery, probes):
        block /= np.linalg.norm(block, axis=1, keepdims=True)
    return gallery.astype(np.float32), probes.astype(np.float32)


def build(kind: str, gallery: np.ndarray) -> faiss.Index:
    dim = gallery.shape[1]
    if kind == "ivfpq":
        index = faiss.IndexIVFPQ(
            faiss.IndexFlatIP(dim), dim, IVF_LISTS, PQ_BYTES, 8, faiss.METRIC_INNER_PRODUCT
        )
        sample = np.random.default_rng(SEED).choice(len(gallery), 100_000, replace=False)
        index.train(gallery[np.sort(sample)])
        index.nprobe = IVF_PROBES
    else:
        index = new_index(dim, kind)
    index.add(gallery)
    if kind == "hnsw":
        faiss.ParameterSpace().set_index_parameter(index, "efSearch", max(HNSW_EF_SEARCH, TOP))
    return index


def measure(faces: int, kind: str, queries: int = QUERIES) -> dict[str, Any]:
    resolved = index_kind(faces, kind) if kind != "ivfpq" else kind
    gallery, probes = synthetic(faces, queries)
    exact = faiss.IndexFlatIP(gallery.shape[1])
    exact.add(gallery)
    _, truth = exact.search(probes, TOP)
    del exact
    start = time.perf_counter()
    index = build(resolved, gallery)
    build_s = time.perf_counter() - start
    index.search(probes[:5], TOP)  # warm
    times, found = [], []
    for probe in probes:
        begun = time.perf_counter()
        _, hits = index.search(probe[None], TOP)
        times.append(time.perf_counter() - begun)
        found.append(hits[0])
    recall = float(np.mean([len(set(f) & set(t)) / TOP for f, t in zip(found, truth, strict=True)]))
    return {
        "faces": faces,
        "index": resolved,
        "build_s": round(build_s, 2),
        "query_ms_p50": round(1000 * float(np.percentile(times, 50)), 3),
        "query_ms_p99": round(1000 * float(np.percentile(times, 99)), 3),
        "recall_at_50": round(recall, 4),
        "memory_mb": round(faiss.serialize_index(index).nbytes / 2**20, 1),
    }


RUNS = ((100_000, "auto"), (1_000_000, "exact"), (1_000_000, "auto"), (1_000_000, "ivfpq"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--faces", type=int)
    parser.add_argument("--index", default="auto", choices=("auto", "exact", "hnsw", "ivfpq"))
    parser.add_argument("--queries", type=int, default=QUERIES)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.faces:
        result = measure(args.faces, args.index, args.queries)
        print(json.dumps(result) if args.json else result)
        return
    figures: dict[str, Any] = {}
    for faces, kind in RUNS:
        result = measure(faces, kind, args.queries)
        print(result, flush=True)
        figures[f"{faces}_{kind}"] = result
    million = {k: figures[f"1000000_{k}"] for k in ("auto", "ivfpq")}
    figures["extrapolated_10m_memory_mb"] = {  # the codes and the graph grow with the faces
        k: round(10 * v["memory_mb"], 0) for k, v in million.items()
    }
    write_result(
        "search_scale",
        figures,
        {
            "vectors": "synthetic faces around LFW View 1 identities (see the module docstring)",
            "queries": args.queries,
            "top": TOP,
            "exact_max": EXACT_MAX,
            "hnsw_ef_search": HNSW_EF_SEARCH,
            "ivfpq": {"lists": IVF_LISTS, "bytes": PQ_BYTES, "probes": IVF_PROBES},
            "faiss_threads": faiss.omp_get_max_threads(),
        },
    )


if __name__ == "__main__":
    main()
