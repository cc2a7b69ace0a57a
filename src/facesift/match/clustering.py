"""Unknown-person discovery on vectors: constrained average-linkage clustering, precision first.

Two clusters merge when the average similarity over all pairs of their members reaches a
threshold (set from the calibration: an FMR, not a raw score). Average linkage resists the
chaining that merges look-alikes through a run of intermediate faces (single linkage, DBSCAN)
and, unlike a centroid rule, does not let a large cluster swallow whatever is near its mean.

For unit vectors the average pairwise cosine of clusters A and B is ΣA·ΣB / (|A||B|), so each
cluster keeps only the sum of its members and every linkage is exact; only the candidate pairs
come from a k-nearest-neighbour graph (FAISS), never all pairs. Constraints are honoured at
every merge:
- items that share an *occasion* (the same photo, the same video frame) are different people,
  so clusters holding a common occasion never merge;
- clusters an analyst touched (`locked`) never merge with each other: the analyst decided
  they are different or has named them;
- items can start in given clusters (`initial`): those stay together, which makes clustering
  incremental (new faces join existing clusters or form new ones, nothing is reshuffled).

Scores are normalised against each face's cohort (as biometric score normalisation does): some
faces (poor, small, blurred) score high with everybody and draw false merges. A first pass at
the threshold gives provisional clusters; each face's cohort is its nearest neighbours outside
its provisional cluster (so a person seen hundreds of times is not their own cohort), and a
pair's score is lowered by the mean of its two faces' cohort excess over the median face (never
raised: a merge's raw average score always reaches the threshold). The second pass clusters on
these scores; linkages stay exact (each cluster also sums its excess).

The threshold is a false-match rate per comparison, and clustering n faces compares each with
n − 1 others: at a pair FMR of 1e-3 each of LFW View 1's 4,992 faces has about five strangers
above the threshold. `pair_fmr` sets the rate so that about one false merge per face is
expected (rate / (n − 1)), and never above MAX_PAIR_FMR (1e-3), so the threshold rises as the
collection grows. What each part does on LFW View 1 and a case-like mix, against Chinese
whispers, HDBSCAN and plain average linkage: benchmarks/clustering.py and its result file.
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facesift.match.calibration import Calibration
from facesift.vision.similarity import l2_normalize

DEFAULT_NEIGHBOURS = 30
# Neighbours are searched exactly up to this many faces, approximately (IVF) beyond.
EXACT_SEARCH_UP_TO = 20_000
IVF_PROBES = 32
# Expected faces, per face, that score above the threshold with someone else: chosen on the
# people of LFW's pairsDevTrain (benchmarks/clustering.py); precision first.
DEFAULT_FALSE_MERGES_PER_FACE = 1.0
# Whatever the number of faces, members are the same person at this pair FMR or less.
MAX_PAIR_FMR = 1e-3
# A face with fewer cohort neighbours outside its provisional cluster is not normalised.
MIN_COHORT = 5
# Face width (px) from which a face counts fully in a cluster's averages (`face_weights`).
FULL_WEIGHT_FACE_PX = 100.0
MIN_WEIGHT = 0.1


def face_weights(face_px: np.ndarray) -> np.ndarray:
    """Weights for `agglomerate`: width / FULL_WEIGHT_FACE_PX within [MIN_WEIGHT, 1]. A small
    face carries less of its identity and should pull its cluster's averages less; an unknown
    width (NaN) weighs 1."""
    widths = np.asarray(face_px, np.float64)
    return np.where(np.isnan(widths), 1.0, np.clip(widths / FULL_WEIGHT_FACE_PX, MIN_WEIGHT, 1.0))


def pair_fmr(
    faces: int, rate: float = DEFAULT_FALSE_MERGES_PER_FACE, ceiling: float = MAX_PAIR_FMR
) -> float:
    """The false-match rate per pair at which clustering `faces` faces expects `rate` false
    merges per face: rate / (faces − 1), never above `ceiling`."""
    return min(rate / max(faces - 1, 1), ceiling)


def threshold_for_faces(
    calibration: Calibration, faces: int, rate: float = DEFAULT_FALSE_MERGES_PER_FACE
) -> float:
    """The score threshold for clustering `faces` faces (`pair_fmr`), kept within what the
    calibration resolves."""
    return calibration.threshold_for(max(pair_fmr(faces, rate), calibration.floor))


@dataclass(frozen=True)
class Clustering:
    """Labels 0..m-1 per item; `of_initial` maps each initial label to its final label."""

    labels: np.ndarray
    of_initial: dict[int, int]

    @property
    def count(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def nearest(vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices) of each row's k nearest other rows by inner product (FAISS: exact
    up to EXACT_SEARCH_UP_TO rows, an inverted-file index beyond); -1 indices where there
    are fewer."""
    import faiss

    n = len(vectors)
    if n < 2:
        return np.zeros((n, 0), np.float32), np.zeros((n, 0), np.int64)
    x = np.ascontiguousarray(vectors, np.float32)
    index: faiss.Index
    if n <= EXACT_SEARCH_UP_TO:
        index = faiss.IndexFlatIP(x.shape[1])
    else:
        # Exact search grows with n²: 100,000 faces take minutes. Neighbours from 32 of
        # 4√n lists give the same clusters (benchmarks/clustering.py) in a fraction of it.
        quantizer = faiss.IndexFlatIP(x.shape[1])
        inverted = faiss.IndexIVFFlat(
            quantizer,
            x.shape[1],
            int(4 * np.sqrt(n)),
            faiss.METRIC_INNER_PRODUCT,
        )
        inverted.train(x)
        inverted.nprobe = IVF_PROBES
        index = inverted
    index.add(x)
    scores, found = index.search(x, min(k + 1, n))
    self_hit = found == np.arange(n)[:, None]
    # Drop each row's own hit (or its last one, where a duplicate displaced it).
    drop = np.where(self_hit.any(1), self_hit.argmax(1), found.shape[1] - 1)
    keep = np.ones_like(found, bool)
    keep[np.arange(n), drop] = False
    width = found.shape[1] - 1
    return scores[keep].reshape(n, width), found[keep].reshape(n, width).astype(np.int64)


def neighbour_pairs(
    scores: np.ndarray, found: np.ndarray, threshold: float, excess: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Item pairs (i < j) among the neighbour lists whose (normalised) score ≥ threshold."""
    rows = np.repeat(np.arange(len(found)), found.shape[1])
    cols, sims = found.ravel(), scores.ravel().astype(np.float64)
    valid = cols >= 0
    rows, cols, sims = rows[valid], cols[valid], sims[valid]
    if excess is not None:
        sims = sims - (excess[rows] + excess[cols]) / 2
    keep = sims >= threshold
    if not keep.any():
        empty = np.empty(0, np.int64)
        return empty, empty
    a, b = np.minimum(rows[keep], cols[keep]), np.maximum(rows[keep], cols[keep])
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def cohort_excess(scores: np.ndarray, found: np.ndarray, provisional: np.ndarray) -> np.ndarray:
    """How much more each face scores with its neighbours outside its provisional cluster
    than the median face does (0 for a face with fewer than MIN_COHORT such neighbours, and
    for faces below the median: normalisation only ever lowers a score, so every merge still
    has a raw average score at the threshold, and the threshold's FMR still holds)."""
    outside = (found >= 0) & (provisional[np.maximum(found, 0)] != provisional[:, None])
    count = outside.sum(1)
    total = np.where(outside, scores, 0.0).sum(1)
    enough = count >= MIN_COHORT
    if not enough.any():
        return np.zeros(len(found))
    mean = total[enough] / count[enough]
    excess = np.zeros(len(found))
    excess[enough] = np.maximum(mean - np.median(mean), 0.0)
    return excess


def agglomerate(
    vectors: np.ndarray,
    threshold: float,
    *,
    occasions: Sequence[Iterable[Hashable]] | None = None,
    initial: np.ndarray | None = None,
    locked: Collection[int] = (),
    weights: np.ndarray | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
    normalise: bool = True,
) -> Clustering:
    """Cluster the rows of `vectors` by constrained average linkage at `threshold`.

    `occasions[i]` are the photos/frames item i was seen in; `initial[i]` the cluster it starts
    in (-1: on its own); `locked` initial clusters never merge with each other; `weights`
    (e.g. face quality) weigh members in the averages; `normalise`: scores normalised against
    each face's cohort (see the module's docstring), else raw.
    """
    x = l2_normalize(vectors).astype(np.float64)
    n = len(x)
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    start = np.full(n, -1, np.int64) if initial is None else np.asarray(initial, np.int64)
    if len(start) != n or len(w) != n or (occasions is not None and len(occasions) != n):
        raise ValueError("vectors, initial, weights and occasions must have one row per item")
    scores, found = nearest(x, neighbours)
    first = _merge(x, w, start, occasions, locked, scores, found, threshold, None)
    if not normalise or n < 2:
        return first
    excess = cohort_excess(scores, found, first.labels)
    return _merge(x, w, start, occasions, locked, scores, found, threshold, excess)


def _merge(
    x: np.ndarray,
    w: np.ndarray,
    start: np.ndarray,
    occasions: Sequence[Iterable[Hashable]] | None,
    locked: Collection[int],
    scores: np.ndarray,
    found: np.ndarray,
    threshold: float,
    excess: np.ndarray | None,
) -> Clustering:
    """One pass of constrained average linkage; linkages lowered by the clusters' mean
    `excess` (cohort normalisation) when given."""
    n = len(x)
    # Starting clusters: the given ones, then every free item on its own.
    root = np.empty(n, np.int64)
    given = sorted(set(start[start >= 0].tolist()))
    slot = {label: k for k, label in enumerate(given)}
    free = np.flatnonzero(start < 0)
    root[start >= 0] = [slot[v] for v in start[start >= 0]]
    root[free] = len(given) + np.arange(len(free))
    m = len(given) + len(free)
    sums = np.zeros((m, x.shape[1]))
    np.add.at(sums, root, x * w[:, None])
    mass = np.bincount(root, weights=w, minlength=m)
    lowered = np.bincount(root, weights=w * (0 if excess is None else excess), minlength=m)
    seen: list[set[Hashable]] = [set() for _ in range(m)]
    if occasions is not None:
        for i, keys in enumerate(occasions):
            seen[root[i]].update(keys)
    is_locked = np.zeros(m, bool)
    is_locked[[slot[v] for v in locked if v in slot]] = True

    # Candidate cluster pairs from the item graph; linkages are computed exactly from sums.
    links: dict[int, set[int]] = {c: set() for c in range(m)}
    a, b = neighbour_pairs(scores, found, threshold, excess)
    for i, j in zip(root[a].tolist(), root[b].tolist(), strict=True):
        if i != j:
            links[i].add(j)
            links[j].add(i)
    version = np.zeros(m, np.int64)
    heap: list[tuple[float, int, int, int, int]] = []

    def push(c: int, others: Iterable[int]) -> None:
        others = list(others)
        if not others:
            return
        linkage = sums[others] @ sums[c] / (mass[others] * mass[c])
        linkage -= (lowered[others] / mass[others] + lowered[c] / mass[c]) / 2
        for o, value in zip(others, linkage.tolist(), strict=True):
            if value >= threshold:
                heapq.heappush(heap, (-value, c, o, int(version[c]), int(version[o])))

    for c in range(m):
        push(c, [o for o in links[c] if o > c])
    merged_into = np.arange(m)
    while heap:
        _, c, o, vc, vo = heapq.heappop(heap)
        if vc != version[c] or vo != version[o]:
            continue  # one of them changed since: its new linkage is in the heap
        if (is_locked[c] and is_locked[o]) or not seen[c].isdisjoint(seen[o]):
            continue
        sums[c] += sums[o]
        mass[c] += mass[o]
        lowered[c] += lowered[o]
        seen[c] |= seen[o]
        is_locked[c] |= is_locked[o]
        merged_into[o] = c
        version[c] += 1
        version[o] += 1
        links[c] = (links[c] | links.pop(o)) - {c, o}
        for other in links[c]:
            links[other].discard(o)
            links[other].add(c)
        push(c, links[c])

    # Follow merges to the surviving cluster, then number the survivors 0..k-1.
    final = merged_into.copy()
    for c in range(m):
        r = c
        while final[r] != r:
            r = final[r]
        final[c] = r
    _, compact = np.unique(final, return_inverse=True)
    labels = compact[root]
    return Clustering(labels=labels, of_initial={v: int(compact[slot[v]]) for v in given})
