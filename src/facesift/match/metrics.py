"""Verification and identification metrics on score arrays (NIST FRTE vocabulary), and
clustering metrics on label arrays."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, FAR/FMR, TAR) at every distinct score; empty without pairs."""
    if not len(genuine) and not len(impostor):
        return np.zeros(0), np.zeros(0), np.zeros(0)
    scores = np.concatenate([genuine, impostor])
    labels = np.concatenate([np.ones(len(genuine)), np.zeros(len(impostor))])
    order = np.argsort(-scores, kind="stable")
    scores, labels = scores[order], labels[order]
    last = np.r_[np.diff(scores) != 0, True]  # the last position of each distinct score
    tar = np.cumsum(labels)[last] / max(len(genuine), 1)
    far = np.cumsum(1 - labels)[last] / max(len(impostor), 1)
    return scores[last], far, tar


def auc(far: np.ndarray, tar: np.ndarray) -> float:
    x, y = np.r_[0.0, far], np.r_[0.0, tar]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2))


def tar_at_far(far: np.ndarray, tar: np.ndarray, target: float) -> float:
    """The best TAR whose FAR does not exceed `target`."""
    allowed = far <= target
    return float(tar[allowed].max()) if allowed.any() else 0.0


def best_threshold(scores: np.ndarray, same: np.ndarray) -> float:
    """The threshold (same person when score ≥ it) with the highest accuracy on these pairs."""
    ordered = np.unique(scores[np.isfinite(scores)])
    if len(ordered) < 2:
        return float(ordered[0]) if len(ordered) else 0.0
    candidates = np.r_[ordered[0] - 1e-6, (ordered[:-1] + ordered[1:]) / 2, ordered[-1] + 1e-6]
    accuracy = [np.mean((np.nan_to_num(scores, nan=-np.inf) >= t) == same) for t in candidates]
    return float(candidates[int(np.argmax(accuracy))])


def accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs decided right; a pair without a score counts as "different"."""
    return float(np.mean((np.nan_to_num(scores, nan=-np.inf) >= threshold) == same))


def cross_validated_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[float, float, list[float]]:
    """Mean and std of per-fold accuracy, each fold's threshold chosen on the other folds."""
    results = []
    for fold in np.unique(folds):
        test = folds == fold
        threshold = best_threshold(scores[~test], same[~test])
        results.append(accuracy(scores[test], same[test], threshold))
    return float(np.mean(results)), float(np.std(results)), results


def mate_ranks(scores: np.ndarray, mates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each probe row of `scores` (probes × gallery), the rank (1 = best) of its mate's
    column `mates[i]`, and the mate's score. Ties rank the mate last."""
    mate_scores = scores[np.arange(len(scores)), mates]
    ranks = np.sum(scores >= mate_scores[:, None], axis=1)  # counts the mate itself
    return ranks, mate_scores


def cmc(ranks: np.ndarray, max_rank: int = 20) -> np.ndarray:
    """Share of mated searches whose mate is within rank k, for k = 1 … max_rank."""
    return (
        np.array([np.mean(ranks <= k) for k in range(1, max_rank + 1)])
        if len(ranks)
        else np.zeros(max_rank)
    )


def fnir_at_fpir(
    ranks: np.ndarray, mate_scores: np.ndarray, non_mated_top: np.ndarray, fpir: float
) -> tuple[float, float]:
    """(FNIR, threshold) at the threshold where a share `fpir` of non-mated searches return a
    candidate; a mated search fails unless its mate is rank 1 and scores at least that much."""
    if not len(non_mated_top) or not len(ranks):
        return float("nan"), float("nan")
    ordered = np.sort(non_mated_top)[::-1]
    # Rounded first: 0.29 × 100 is 28.999999999999996 in floating point, and 29 may pass.
    allowed = int(np.floor(round(fpir * len(ordered), 9)))
    threshold = float(ordered[allowed]) + 1e-9 if allowed < len(ordered) else float(ordered[-1])
    hits = (ranks == 1) & (mate_scores >= threshold)
    return float(1 - np.mean(hits)), threshold


def det_open_set(
    ranks: np.ndarray, mate_scores: np.ndarray, non_mated_top: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(FPIR, FNIR) over all thresholds: the identification DET curve (empty when there are no
    non-mated or no mated searches: one of its axes would be undefined)."""
    if len(non_mated_top) == 0 or len(mate_scores) == 0:
        return np.zeros(0), np.zeros(0)
    thresholds = np.unique(np.concatenate([mate_scores, non_mated_top]))[::-1]
    fpir = np.array([np.mean(non_mated_top >= t) for t in thresholds])
    fnir = np.array([1 - np.mean((ranks == 1) & (mate_scores >= t)) for t in thresholds])
    return fpir, fnir


# ---------------------------------------------------------------------------------- clustering


class ClusterScores(NamedTuple):
    precision: float
    recall: float
    f: float


def _harmonic(p: float, r: float) -> float:
    return 2 * p * r / (p + r) if p + r > 0 else 0.0


@dataclass(frozen=True)
class _Contingency:
    """The non-empty cells of the cluster × class table, and every cluster's and class's size."""

    n_ij: np.ndarray  # items in each non-empty cell
    cell_cluster: np.ndarray  # the cell's cluster size
    cell_class: np.ndarray  # the cell's class size
    clusters: np.ndarray  # size of each cluster
    classes: np.ndarray  # size of each class


def _contingency(truth: ArrayLike, predicted: ArrayLike) -> _Contingency:
    """The contingency table of two labellings, from its non-empty cells only (O(n log n)
    however many clusters). A negative predicted label means "in no cluster": a singleton."""
    raw = np.asarray(predicted).ravel()
    t = np.unique(np.asarray(truth).ravel(), return_inverse=True)[1].ravel().astype(np.int64)
    if len(t) != len(raw):
        raise ValueError("truth and predicted must have one label per item")
    c = np.unique(raw, return_inverse=True)[1].ravel().astype(np.int64)
    alone = raw < 0
    c[alone] = (c.max() + 1 if len(c) else 0) + np.arange(int(alone.sum()))
    classes = int(t.max()) + 1 if len(t) else 1
    cells, n_ij = np.unique(c * classes + t, return_counts=True)
    clusters, sizes = np.bincount(c), np.bincount(t)
    return _Contingency(
        n_ij, clusters[cells // classes], sizes[cells % classes], clusters[clusters > 0], sizes
    )


def bcubed(truth: ArrayLike, predicted: ArrayLike) -> ClusterScores:
    """BCubed precision, recall and F (Amigó et al. 2009), averaged over items.

    An item's precision is the share of its cluster with its true label, its recall the share
    of its true class in its cluster; F is the harmonic mean of the two averages. Unlike
    pairwise scores, every item counts once, so a few large clusters do not dominate.
    Negative predicted labels are singletons. Empty input: all 1.
    """
    table = _contingency(truth, predicted)
    if not len(table.n_ij):
        return ClusterScores(1.0, 1.0, 1.0)
    sq, n = table.n_ij.astype(np.float64) ** 2, table.n_ij.sum()
    p = float(np.sum(sq / table.cell_cluster) / n)
    r = float(np.sum(sq / table.cell_class) / n)
    return ClusterScores(p, r, _harmonic(p, r))


def pairwise(truth: ArrayLike, predicted: ArrayLike) -> ClusterScores:
    """Pairwise precision, recall and F: over item pairs put in one cluster vs pairs sharing
    a true label. No predicted pairs: precision 1; no true pairs: recall 1 (nothing to miss).
    Negative predicted labels are singletons."""
    table = _contingency(truth, predicted)

    def pairs(sizes: np.ndarray) -> int:
        return int(np.sum(sizes * (sizes - 1) // 2))

    together = pairs(table.n_ij)
    predicted_pairs, true_pairs = pairs(table.clusters), pairs(table.classes)
    p = together / predicted_pairs if predicted_pairs else 1.0
    r = together / true_pairs if true_pairs else 1.0
    return ClusterScores(p, r, _harmonic(p, r))
