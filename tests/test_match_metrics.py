"""facesift.match.metrics on inputs small enough to work out by hand.

Every expected value is derived in the comment next to it, not taken from the code. Scores are
multiples of 1/8 where a threshold lands between them, so that midpoints are exact in binary
and a score equal to a threshold is tested as "≥", not by rounding luck.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from facesift.match.metrics import (
    accuracy,
    auc,
    bcubed,
    best_threshold,
    cmc,
    cross_validated_accuracy,
    det_open_set,
    fnir_at_fpir,
    mate_ranks,
    pairwise,
    roc,
    tar_at_far,
)


def _a(*values: float) -> np.ndarray:
    return np.array(values, dtype=np.float64)


# ---------------------------------------------------------------------------------------- ROC


def test_roc_counts_every_pair_at_or_above_each_distinct_score() -> None:
    # genuine 0.9 0.8 0.6, impostor 0.7 0.6 0.3 0.1; one genuine and one impostor tie at 0.6.
    # Accepting scores ≥ t:
    #   t=0.9: genuine {0.9}            TAR 1/3, impostors none        FAR 0
    #   t=0.8: genuine {0.9, 0.8}       TAR 2/3, FAR 0
    #   t=0.7: TAR 2/3, impostors {0.7} FAR 1/4
    #   t=0.6: all genuine TAR 1;       impostors {0.7, 0.6} FAR 2/4 (the tie counts both)
    #   t=0.3: TAR 1, FAR 3/4;   t=0.1: TAR 1, FAR 1
    thresholds, far, tar = roc(_a(0.9, 0.8, 0.6), _a(0.7, 0.6, 0.3, 0.1))
    assert thresholds.tolist() == [0.9, 0.8, 0.7, 0.6, 0.3, 0.1]
    assert far.tolist() == pytest.approx([0, 0, 1 / 4, 2 / 4, 3 / 4, 1])
    assert tar.tolist() == pytest.approx([1 / 3, 2 / 3, 2 / 3, 1, 1, 1])


def test_roc_with_all_scores_equal_is_one_point() -> None:
    # Every pair scores 0.5: the only threshold accepts all of them.
    thresholds, far, tar = roc(_a(0.5, 0.5), _a(0.5))
    assert (thresholds.tolist(), far.tolist(), tar.tolist()) == ([0.5], [1.0], [1.0])
    # From (0, 0) straight to (1, 1): the area of chance.
    assert auc(far, tar) == pytest.approx(0.5)


def test_roc_with_one_side_or_both_empty() -> None:
    # No genuine pairs: TAR is 0 everywhere (not a division by zero); FAR 1/2 then 1.
    thresholds, far, tar = roc(_a(), _a(0.5, 0.2))
    assert thresholds.tolist() == [0.5, 0.2]
    assert far.tolist() == [0.5, 1.0] and tar.tolist() == [0.0, 0.0]
    # No impostor pairs: FAR is 0 everywhere.
    _, far, tar = roc(_a(0.5, 0.2), _a())
    assert far.tolist() == [0.0, 0.0] and tar.tolist() == [0.5, 1.0]
    # No pairs at all (e.g. a pair file where no photo showed a face): an empty curve.
    thresholds, far, tar = roc(_a(), _a())
    assert len(thresholds) == len(far) == len(tar) == 0
    assert auc(far, tar) == 0.0 and tar_at_far(far, tar, 1e-2) == 0.0


def test_auc_is_the_probability_a_genuine_pair_outscores_an_impostor_pair() -> None:
    # Same data as above. Trapezoids from (0,0) over the points
    # (0,1/3) (0,2/3) (1/4,2/3) (2/4,1) (3/4,1) (1,1):
    #   widths 0, 0, 1/4, 1/4, 1/4, 1/4; mean heights -, -, 2/3, 5/6, 1, 1
    #   area = 1/4 · (2/3 + 5/6 + 1 + 1) = 1/4 · 7/2 = 7/8.
    # Check by counting the 12 (genuine, impostor) pairs, a tie counting 1/2:
    #   0.9 beats all 4; 0.8 beats all 4; 0.6 beats 0.3 and 0.1 and ties 0.6: 2.5
    #   (4 + 4 + 2.5) / 12 = 10.5 / 12 = 7/8.
    _, far, tar = roc(_a(0.9, 0.8, 0.6), _a(0.7, 0.6, 0.3, 0.1))
    assert auc(far, tar) == pytest.approx(7 / 8)
    # Perfect separation: area 1; perfectly reversed: area 0.
    assert auc(*roc(_a(0.9, 0.8), _a(0.2, 0.1))[1:]) == pytest.approx(1.0)
    assert auc(*roc(_a(0.2, 0.1), _a(0.9, 0.8))[1:]) == pytest.approx(0.0)


def test_tar_at_far_takes_the_best_tar_whose_far_does_not_exceed_the_target() -> None:
    # Points (FAR, TAR): (0,1/3) (0,2/3) (1/4,2/3) (1/2,1) (3/4,1) (1,1).
    _, far, tar = roc(_a(0.9, 0.8, 0.6), _a(0.7, 0.6, 0.3, 0.1))
    assert tar_at_far(far, tar, 0.0) == pytest.approx(2 / 3)  # FAR 0 still admits 2 of 3
    assert tar_at_far(far, tar, 0.2) == pytest.approx(2 / 3)  # 1/4 is over 0.2
    assert tar_at_far(far, tar, 0.25) == pytest.approx(2 / 3)  # exactly 1/4 is allowed
    assert tar_at_far(far, tar, 0.49) == pytest.approx(2 / 3)
    assert tar_at_far(far, tar, 0.5) == pytest.approx(1.0)
    # A curve whose smallest FAR is over the target: nothing qualifies, TAR 0. An impostor
    # at 0.9 outscores the only genuine pair (0.5): FAR 1/2, 1/2, 1 at 0.9, 0.5, 0.1.
    _, far, tar = roc(_a(0.5), _a(0.9, 0.1))
    assert far.tolist() == [0.5, 0.5, 1.0] and tar_at_far(far, tar, 0.1) == 0.0


# ---------------------------------------------------------------------- accuracy, thresholds


def test_best_threshold_and_accuracy_by_hand() -> None:
    # Scores (eighths) 1 4 3 6, same-person F T F T. Sorted: 1 3 4 6. Candidates: below 1,
    # the midpoints 2, 3.5, 5, and above 6. Pairs decided right (same ⇔ score ≥ t):
    #   t<1: all "same": 2/4; t=2: 3,4,6 "same", 3 is wrong: 3/4; t=3.5: 4,6 "same": 4/4;
    #   t=5: only 6 "same", 4 is missed: 3/4; t>6: 2/4.
    scores, same = _a(1, 4, 3, 6) / 8, np.array([False, True, False, True])
    assert best_threshold(scores, same) == 3.5 / 8
    assert accuracy(scores, same, 3.5 / 8) == 1.0
    assert accuracy(scores, same, 2 / 8) == 0.75
    # A score equal to the threshold counts as "same": at t = 4/8 all four are still right,
    # at t = 3/8 the different-person pair scoring 3/8 is accepted.
    assert accuracy(scores, same, 4 / 8) == 1.0 and accuracy(scores, same, 3 / 8) == 0.75
    # A pair without a score (no face found) counts as "different": right for a
    # different-person pair, wrong for a same-person pair, whatever the threshold.
    assert accuracy(_a(np.nan, np.nan), np.array([False, True]), -1e9) == 0.5


def test_best_threshold_ties_and_degenerate_inputs() -> None:
    # Two candidates reach the best accuracy: the first (lowest) one is chosen.
    # Scores 2 4 5 7 (eighths), same F T F T. Candidates below 2, 3, 4.5, 6, above 7:
    #   accuracies 2/4, 3/4, 2/4, 3/4, 2/4 -> 3 and 6 tie at 3/4; 3/8 wins.
    scores, same = _a(2, 5, 4, 7) / 8, np.array([False, False, True, True])
    assert best_threshold(scores, same) == 3 / 8
    # All scores equal: the only finite score; none at all (or only NaN): 0.
    assert best_threshold(_a(0.5, 0.5), np.array([True, False])) == 0.5
    assert best_threshold(_a(), np.array([], bool)) == 0.0
    assert best_threshold(_a(np.nan), np.array([True])) == 0.0
    # NaN pairs take no part in the choice but count as "different" in the accuracy:
    # scores 1, 7 (eighths) decide perfectly at the midpoint 4/8.
    assert best_threshold(_a(1, np.nan, 7) / 8, np.array([False, True, True])) == 4 / 8


def test_cross_validated_accuracy_chooses_each_folds_threshold_on_the_others() -> None:
    # Fold 0: scores 1 3 6 8 (eighths), same F F T T -> alone it decides perfectly at 4.5/8.
    # Fold 1: scores 2 5 4 7, same F F T T -> best threshold 3/8 (see the test above).
    # Fold 0 tested at fold 1's 3/8: 1 rejected (right), 3 accepted (wrong: ≥ 3/8),
    #   6 and 8 accepted (right): 3/4.
    # Fold 1 tested at fold 0's 4.5/8: 2 rejected (right), 5 accepted (wrong),
    #   4 rejected (wrong), 7 accepted (right): 2/4.
    # Mean 0.625; population standard deviation |0.75 - 0.5| / 2 = 0.125.
    scores = _a(1, 3, 6, 8, 2, 5, 4, 7) / 8
    same = np.array([False, False, True, True] * 2)
    folds = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    mean, std, per_fold = cross_validated_accuracy(scores, same, folds)
    assert per_fold == [0.75, 0.5]
    assert mean == 0.625 and std == 0.125
    # A threshold chosen on the tested fold itself would have scored 1.0 and 0.75: the
    # cross-validated figure must not be that optimistic one.
    assert mean < np.mean([accuracy(scores[:4], same[:4], 4.5 / 8), 0.75])


# ------------------------------------------------------------------------- identification


def test_mate_ranks_count_ties_against_the_mate() -> None:
    # Row 0: mate column 0 scores 0.9, nothing higher: rank 1.
    # Row 1: mate column 1 scores 0.8, column 2 scores 0.85: rank 2.
    # Row 2: mate column 0 scores 0.5, column 1 ties it at 0.5: rank 2 (ties rank the mate
    #   last, so a tie never counts as a rank-1 hit).
    # Row 3: all equal: the mate is last of three.
    scores = np.array([[0.9, 0.1, 0.2], [0.3, 0.8, 0.85], [0.5, 0.5, 0.1], [0.4, 0.4, 0.4]])
    ranks, mate_scores = mate_ranks(scores, np.array([0, 1, 0, 2]))
    assert ranks.tolist() == [1, 2, 2, 3]
    assert mate_scores.tolist() == [0.9, 0.8, 0.5, 0.4]


def test_cmc_by_hand() -> None:
    # Ranks 1, 2, 2, 5 of four mated searches: within rank 1: 1/4; within 2: 3/4; within 3
    # and 4: 3/4; within 5: 4/4.
    assert cmc(np.array([1, 2, 2, 5]), 5).tolist() == [0.25, 0.75, 0.75, 0.75, 1.0]
    assert cmc(np.array([1, 1]), 3).tolist() == [1.0, 1.0, 1.0]  # all the same rank
    assert cmc(np.array([], int), 4).tolist() == [0.0, 0.0, 0.0, 0.0]  # no mated search


def test_fnir_at_fpir_by_hand() -> None:
    # Five non-mated searches whose best candidates score 0.2 0.9 0.5 0.7 0.4; sorted:
    # 0.9 0.7 0.5 0.4 0.2. Four mated searches: ranks 1 1 2 1, mate scores 0.95 0.7 0.99 0.8.
    ranks, mates = np.array([1, 1, 2, 1]), _a(0.95, 0.7, 0.99, 0.8)
    non_mated = _a(0.2, 0.9, 0.5, 0.7, 0.4)
    # FPIR 0.2: one of five may pass: the threshold lies just above 0.7, the second highest.
    # Hits (rank 1 and ≥ threshold): 0.95 yes; 0.7 no (below); 0.99 no (rank 2); 0.8 yes:
    # FNIR 1 - 2/4 = 0.5.
    fnir, threshold = fnir_at_fpir(ranks, mates, non_mated, 0.2)
    assert 0.7 < threshold < 0.7 + 1e-6 and fnir == 0.5
    assert np.mean(non_mated >= threshold) == 0.2
    # FPIR 0: none may pass: just above 0.9; only 0.95 is a hit: FNIR 3/4.
    fnir, threshold = fnir_at_fpir(ranks, mates, non_mated, 0.0)
    assert 0.9 < threshold < 0.9 + 1e-6 and fnir == 0.75
    # FPIR 1: all may pass: the lowest non-mated score; rank-1 mates all hit: FNIR 1/4.
    fnir, threshold = fnir_at_fpir(ranks, mates, non_mated, 1.0)
    assert threshold == 0.2 and fnir == 0.25
    # FPIR 0.39 of five: floor(1.95) = 1 may pass, as at 0.2.
    assert fnir_at_fpir(ranks, mates, non_mated, 0.39) == fnir_at_fpir(ranks, mates, non_mated, 0.2)
    # Nothing to measure on one side: NaN, not a number that looks like a result.
    assert all(np.isnan(fnir_at_fpir(ranks, mates, _a(), 0.1)))
    assert all(np.isnan(fnir_at_fpir(np.array([], int), _a(), non_mated, 0.1)))


def test_fnir_at_fpir_allows_exactly_the_share_asked_for() -> None:
    # 100 non-mated searches scoring 0.00, 0.01, …, 0.99; FPIR 0.29 allows 29 of them:
    # 0.71 … 0.99 pass, 0.70 does not, so the threshold lies in (0.70, 0.71].
    # (0.29 · 100 is 28.999999999999996 in floating point: truncating it would allow 28.)
    non_mated = np.arange(100) / 100
    _, threshold = fnir_at_fpir(np.array([1]), _a(1.0), non_mated, 0.29)
    assert int(np.sum(non_mated >= threshold)) == 29


def test_fnir_at_fpir_with_tied_non_mated_scores_stays_at_or_under_the_share() -> None:
    # Four non-mated searches all scoring 0.5; FPIR 0.25 would allow one, but the four are
    # indistinguishable: the threshold goes just above 0.5 and none passes (FPIR 0 ≤ 0.25).
    # The mate scoring 0.5 then fails too: FNIR 1.
    non_mated = _a(0.5, 0.5, 0.5, 0.5)
    fnir, threshold = fnir_at_fpir(np.array([1]), _a(0.5), non_mated, 0.25)
    assert np.mean(non_mated >= threshold) == 0.0 and fnir == 1.0


def test_det_open_set_by_hand() -> None:
    # Mated: ranks 1 2 1, mate scores 0.9 0.8 0.6; non-mated top scores 0.7 0.5.
    # Thresholds: every distinct score, descending: 0.9 0.8 0.7 0.6 0.5.
    #   FPIR (non-mated ≥ t):         0     0     1/2   1/2   1
    #   hits (rank 1 and mate ≥ t):   {0.9} {0.9} {0.9} {0.9, 0.6} {0.9, 0.6}
    #   FNIR = 1 - hits/3:            2/3   2/3   2/3   1/3   1/3   (rank 2 never hits)
    fpir, fnir = det_open_set(np.array([1, 2, 1]), _a(0.9, 0.8, 0.6), _a(0.7, 0.5))
    assert fpir.tolist() == [0.0, 0.0, 0.5, 0.5, 1.0]
    assert fnir.tolist() == pytest.approx([2 / 3, 2 / 3, 2 / 3, 1 / 3, 1 / 3])
    # A mated and a non-mated search tying at 0.6: one threshold, both counted.
    fpir, fnir = det_open_set(np.array([1]), _a(0.6), _a(0.6))
    assert fpir.tolist() == [1.0] and fnir.tolist() == [0.0]
    # Nothing searched: an empty curve.
    fpir, fnir = det_open_set(np.array([], int), _a(), _a())
    assert len(fpir) == len(fnir) == 0
    # No non-mated searches (FPIR undefined), or no mated ones (FNIR undefined): empty too.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "mean of empty slice"
        assert len(det_open_set(np.array([1]), _a(0.9), _a())[0]) == 0
        assert len(det_open_set(np.array([], int), _a(), _a(0.4))[0]) == 0


# --------------------------------------------------------------------------------- clustering


def test_bcubed_and_pairwise_on_a_worked_example() -> None:
    # truth a a a b b c, clusters {0,1} {2,3,4} {5}: cluster 0 = a a, cluster 1 = a b b, 2 = c.
    # BCubed precision per item (share of its cluster with its label):
    #   items 0,1: 2/2; item 2 (a among a b b): 1/3; items 3,4: 2/3; item 5: 1
    #   P = (1 + 1 + 1/3 + 2/3 + 2/3 + 1) / 6 = (3 + 5/3) / 6 = (14/3) / 6 = 7/9
    # BCubed recall per item (share of its class in its cluster):
    #   items 0,1: 2/3 of a; item 2: 1/3; items 3,4: 2/2 of b; item 5: 1
    #   R = (2/3 + 2/3 + 1/3 + 1 + 1 + 1) / 6 = (5/3 + 3) / 6 = 7/9
    #   F = 2PR / (P + R) = P when P = R: 7/9
    truth = ["a", "a", "a", "b", "b", "c"]
    predicted = [0, 0, 1, 1, 1, 2]
    p, r, f = bcubed(truth, predicted)
    assert (p, r, f) == pytest.approx((7 / 9, 7 / 9, 7 / 9))
    # Pairwise: pairs put together: (0,1) same, (2,3) (2,4) different, (3,4) same → 2 of 4;
    # same-label pairs: 3 among a + 1 among b = 4, of which 2 together. P = R = F = 1/2.
    assert pairwise(truth, predicted) == pytest.approx((0.5, 0.5, 0.5))


def test_all_singletons_are_precise_and_miss_every_pair() -> None:
    # truth a a b, each alone: precision 1 per item; recall 1/2, 1/2, 1 → 2/3; F = 4/5.
    assert bcubed(["a", "a", "b"], [0, 1, 2]) == pytest.approx((1, 2 / 3, 4 / 5))
    # No pair put together: precision 1 by convention; the one same-label pair missed: recall 0.
    assert pairwise(["a", "a", "b"], [0, 1, 2]) == pytest.approx((1, 0, 0))
    # Negative labels ("in no cluster") are singletons, not one cluster of the unclustered.
    assert bcubed(["a", "a", "b"], [-1, -1, -1]) == pytest.approx((1, 2 / 3, 4 / 5))


def test_one_big_cluster_recalls_everything_and_is_imprecise() -> None:
    # truth a a b c in one cluster of 4: precision 2/4, 2/4, 1/4, 1/4 → 3/8; recall 1;
    # F = 2 * 3/8 / (11/8) = 6/11. Pairs: 6 together, 1 of them same-label → P 1/6, R 1,
    # F = 2 * 1/6 / (7/6) = 2/7.
    assert bcubed(["a", "a", "b", "c"], [7, 7, 7, 7]) == pytest.approx((3 / 8, 1, 6 / 11))
    assert pairwise(["a", "a", "b", "c"], [7, 7, 7, 7]) == pytest.approx((1 / 6, 1, 2 / 7))


def test_unclustered_items_do_not_join_each_other() -> None:
    # truth a a b b; a's clustered together, b's left out (-1): b's are two singletons.
    # BCubed: precision 1 each; recall 1, 1, 1/2, 1/2 → 3/4.
    # Pairwise: 1 pair together (a a, same); same-label pairs 2 → P 1, R 1/2.
    assert bcubed([1, 1, 2, 2], [0, 0, -1, -1])[:2] == pytest.approx((1, 3 / 4))
    assert pairwise([1, 1, 2, 2], [0, 0, -1, -1])[:2] == pytest.approx((1, 1 / 2))


def test_a_perfect_clustering_scores_one_whatever_its_label_values() -> None:
    truth = ["x", "y", "x", "z", "y"]
    assert bcubed(truth, [5, 9, 5, 0, 9]) == pytest.approx((1, 1, 1))
    assert pairwise(truth, [5, 9, 5, 0, 9]) == pytest.approx((1, 1, 1))


def test_clustering_metrics_match_their_definitions_item_by_item() -> None:
    rng = np.random.default_rng(3)
    truth, predicted = rng.integers(0, 12, 200), rng.integers(-1, 15, 200)
    alone = predicted < 0
    own = predicted.copy()
    own[alone] = 100 + np.arange(alone.sum())  # every unclustered item its own cluster
    same_cluster = own[:, None] == own[None, :]
    same_class = truth[:, None] == truth[None, :]
    both = same_cluster & same_class
    p = np.mean(both.sum(1) / same_cluster.sum(1))
    r = np.mean(both.sum(1) / same_class.sum(1))
    assert bcubed(truth, predicted)[:2] == pytest.approx((p, r))
    upper = np.triu(np.ones_like(both), 1)
    pairs_p = (both & upper).sum() / (same_cluster & upper).sum()
    pairs_r = (both & upper).sum() / (same_class & upper).sum()
    assert pairwise(truth, predicted)[:2] == pytest.approx((pairs_p, pairs_r))


def test_clustering_metrics_are_fast_on_100k_items() -> None:
    import time

    rng = np.random.default_rng(0)
    truth, predicted = rng.integers(0, 30_000, 100_000), rng.integers(-1, 40_000, 100_000)
    start = time.perf_counter()
    bcubed(truth, predicted)
    pairwise(truth, predicted)
    assert time.perf_counter() - start < 2.0


def test_clustering_metrics_need_one_label_per_item() -> None:
    with pytest.raises(ValueError):
        bcubed([0, 1], [0])
    assert bcubed([], []) == (1.0, 1.0, 1.0)
