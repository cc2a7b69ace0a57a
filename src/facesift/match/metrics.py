"""Verification and identification metrics on score arrays (NIST FRTE vocabulary)."""

from __future__ import annotations

import numpy as np


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
