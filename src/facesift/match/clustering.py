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
"""

from __future__ import annotations

import heapq
from collections.abc import Collection, Hashable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np

from facesift.vision.similarity import l2_normalize

DEFAULT_NEIGHBOURS = 30


@dataclass(frozen=True)
class Clustering:
    """Labels 0..m-1 per item; `of_initial` maps each initial label to its final label."""

    labels: np.ndarray
    of_initial: dict[int, int]

    @property
    def count(self) -> int:
        return int(self.labels.max()) + 1 if len(self.labels) else 0


def neighbour_pairs(vectors: np.ndarray, k: int, threshold: float) -> tuple[np.ndarray, ...]:
    """Item pairs (i < j) among each item's k nearest neighbours scoring ≥ threshold."""
    import faiss

    n = len(vectors)
    if n < 2:
        empty = np.empty(0, np.int64)
        return empty, empty, np.empty(0, np.float32)
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, found = index.search(vectors, min(k + 1, n))
    rows = np.repeat(np.arange(n), found.shape[1])
    cols, sims = found.ravel(), scores.ravel()
    keep = (cols >= 0) & (cols != rows) & (sims >= threshold)
    a, b = np.minimum(rows[keep], cols[keep]), np.maximum(rows[keep], cols[keep])
    pairs = np.unique(np.stack([a, b], axis=1), axis=0) if keep.any() else np.empty((0, 2))
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64), sims[keep]


def agglomerate(
    vectors: np.ndarray,
    threshold: float,
    *,
    occasions: Sequence[Iterable[Hashable]] | None = None,
    initial: np.ndarray | None = None,
    locked: Collection[int] = (),
    weights: np.ndarray | None = None,
    neighbours: int = DEFAULT_NEIGHBOURS,
) -> Clustering:
    """Cluster the rows of `vectors` by constrained average linkage at `threshold`.

    `occasions[i]` are the photos/frames item i was seen in; `initial[i]` the cluster it starts
    in (-1: on its own); `locked` initial clusters never merge with each other; `weights`
    (e.g. face quality) weigh members in the averages.
    """
    x = l2_normalize(vectors).astype(np.float64)
    n = len(x)
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    start = np.full(n, -1, np.int64) if initial is None else np.asarray(initial, np.int64)
    if len(start) != n or len(w) != n or (occasions is not None and len(occasions) != n):
        raise ValueError("vectors, initial, weights and occasions must have one row per item")

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
    seen: list[set[Hashable]] = [set() for _ in range(m)]
    if occasions is not None:
        for i, keys in enumerate(occasions):
            seen[root[i]].update(keys)
    is_locked = np.zeros(m, bool)
    is_locked[[slot[v] for v in locked if v in slot]] = True

    # Candidate cluster pairs from the item graph; linkages are computed exactly from sums.
    links: dict[int, set[int]] = {c: set() for c in range(m)}
    a, b, _ = neighbour_pairs(x.astype(np.float32), neighbours, threshold)
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
