"""Verification and identification metrics on score arrays (NIST FRTE vocabulary)."""

from __future__ import annotations

import numpy as np


def roc(genuine: np.ndarray, impostor: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(thresholds descending, FAR/FMR, TAR) at every distinct score."""
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
