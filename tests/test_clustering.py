"""facesift.match.clustering on synthetic vectors whose right answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.match.calibration import Calibration
from facesift.match.clustering import (
    MAX_PAIR_FMR,
    agglomerate,
    cohort_excess,
    face_weights,
    nearest,
    pair_fmr,
    threshold_for_faces,
)
from facesift.match.metrics import bcubed
from facesift.vision.similarity import l2_normalize


def _people(
    count: int, faces: int | list[int], spread: float = 0.1, dim: int = 64, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(faces, labels, identity centres): `faces` noisy faces around each of `count` random
    orthogonal unit centres (people who score 0 with each other)."""
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(dim, count)))[0].T
    labels = np.repeat(np.arange(count), faces)
    noise = rng.normal(size=(len(labels), dim)) * spread / np.sqrt(dim)
    noise[labels == 0] *= 3 if isinstance(faces, list) else 1  # the first of a list: spread 3×
    return l2_normalize(centres[labels] + noise), labels, centres


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    return bcubed(a, b)[:2] == (1.0, 1.0)


@pytest.mark.parametrize("normalise", [True, False])
def test_separate_people_come_out_as_separate_clusters(normalise: bool) -> None:
    x, labels, _ = _people(12, 4)
    found = agglomerate(x, 0.8, normalise=normalise)
    assert found.count == 12
    assert _same_partition(labels, found.labels)


def test_faces_of_one_occasion_never_merge() -> None:
    x, _, _ = _people(1, 2)
    assert agglomerate(x, 0.5).count == 1
    assert agglomerate(x, 0.5, occasions=[["photo 1"], ["photo 1"]]).count == 2
    assert agglomerate(x, 0.5, occasions=[["photo 1"], ["photo 2"]]).count == 1


def test_locked_clusters_stay_apart_and_initial_ones_together() -> None:
    x, _, _ = _people(1, 4)
    # Four faces of one person: two locked clusters never merge; a free face joins one.
    initial = np.array([0, 0, 1, -1])
    found = agglomerate(x, 0.5, initial=initial, locked={0, 1})
    assert found.labels[0] == found.labels[1] != found.labels[2]
    assert found.labels[3] in (found.labels[0], found.labels[2])
    assert found.of_initial == {0: int(found.labels[0]), 1: int(found.labels[2])}


def test_initial_clusters_are_kept_even_when_unlike() -> None:
    x, _, _ = _people(2, 1)  # two different people, put together by an analyst
    found = agglomerate(x, 0.9, initial=np.array([7, 7]))
    assert found.count == 1 and found.of_initial == {7: 0}


def test_a_new_face_joins_its_person_incrementally() -> None:
    x, labels, _ = _people(5, 4)
    initial = np.where(np.arange(len(labels)) % 4 == 3, -1, labels)  # last face of each is new
    found = agglomerate(x, 0.8, initial=initial)
    assert found.count == 5
    assert _same_partition(labels, found.labels)


def _with_hub(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Twelve people of three faces, and a 'hub' face that is moderately like all of them
    (their mean direction: cosine about 0.29 with each), as poor faces are."""
    x, labels, centres = _people(12, 3, seed=seed)
    hub = l2_normalize(centres.sum(axis=0, keepdims=True))
    return np.concatenate([x, hub]), np.r_[labels, -1]


def test_cohort_normalisation_keeps_a_face_that_is_like_everyone_apart() -> None:
    x, labels = _with_hub()
    hub = len(x) - 1
    raw = agglomerate(x, 0.25, normalise=False).labels
    assert (raw == raw[hub]).sum() > 1  # without it the hub joins somebody
    normalised = agglomerate(x, 0.25).labels
    assert (normalised == normalised[hub]).sum() == 1
    assert _same_partition(labels[:-1], normalised[:-1])


def test_a_person_seen_hundreds_of_times_is_not_split_by_normalisation() -> None:
    # Their nearest neighbours are all themselves: the cohort comes from outside the
    # provisional cluster, so their own faces do not lower their scores.
    # Most faces are other people's, so the median face's cohort is strangers.
    x, labels, _ = _people(201, [300] + [2] * 200, dim=256, seed=1)
    found = agglomerate(x, 0.8).labels
    assert len(np.unique(found[:300])) == 1
    assert _same_partition(labels, found)


def test_cohort_excess_is_relative_to_the_median_face() -> None:
    x, labels = _with_hub()
    scores, found = nearest(x, 30)
    excess = cohort_excess(scores, found, np.r_[labels[:-1], 99])
    assert excess[-1] > 0.2  # the hub's cohort scores far above the others'
    assert np.median(excess[:-1]) == pytest.approx(0.0, abs=0.02)


def test_cohort_excess_is_zero_without_enough_outsiders() -> None:
    x, _, _ = _people(1, 4)
    scores, found = nearest(x, 30)
    assert not cohort_excess(scores, found, np.zeros(4, np.int64)).any()


def test_nearest_leaves_each_row_out_of_its_own_list() -> None:
    x, _, _ = _people(3, 3)
    scores, found = nearest(x, 4)
    assert found.shape == (9, 4)
    assert not (found == np.arange(9)[:, None]).any()
    assert (np.diff(scores, axis=1) <= 1e-6).all()  # best first


def _calibration() -> Calibration:
    return Calibration(
        scores=np.array([0.5, 0.6, 0.7, 0.8, 0.9]),
        fmrs=np.array([1e-1, 1e-2, 1e-3, 1e-4, 1e-5]),
        impostor_pairs=10**7,
        model_name="test",
        model_sha256="0" * 64,
    )


def test_more_faces_need_a_higher_threshold() -> None:
    calibration = _calibration()
    small, large = (
        threshold_for_faces(calibration, 1_001),
        threshold_for_faces(calibration, 100_001),
    )
    assert small == pytest.approx(calibration.threshold_for(1.0 / 1_000))
    assert large == pytest.approx(calibration.threshold_for(1.0 / 100_000))
    assert large > small
    # Beyond what the calibration resolves: its floor, not an error.
    assert threshold_for_faces(calibration, 10**9) == pytest.approx(
        calibration.threshold_for(calibration.floor)
    )


def test_small_faces_weigh_less_in_a_cluster() -> None:
    x, _, _ = _people(2, 2)
    # An analyst's cluster holds person 0's face and, wrongly, a small face of person 1; a new
    # face of person 0 scores about 1 and 0 with them: average 0.5, or 1 / 1.1 weighted 0.1.
    items = np.stack([x[0], x[2], x[1]])
    initial = np.array([0, 0, -1])
    assert agglomerate(items, 0.8, initial=initial).count == 2
    weights = face_weights(np.array([150.0, 10.0, 150.0]))
    assert weights.tolist() == [1.0, 0.1, 1.0]
    assert agglomerate(items, 0.8, initial=initial, weights=weights).count == 1


def test_face_weights_grow_with_width_up_to_one() -> None:
    assert face_weights(np.array([0.0, 50.0, 100.0, 400.0, np.nan])).tolist() == [
        0.1,
        0.5,
        1.0,
        1.0,
        1.0,
    ]


def test_a_small_collection_never_clusters_looser_than_the_ceiling() -> None:
    calibration = _calibration()
    assert pair_fmr(10) == MAX_PAIR_FMR == 1e-3
    assert pair_fmr(100_001) == pytest.approx(1e-5)
    assert threshold_for_faces(calibration, 10) == pytest.approx(calibration.threshold_for(1e-3))


def test_normalisation_never_lifts_a_pair_over_the_threshold() -> None:
    """Faces in a sparse region (their cohort scores below the median face's) are not
    favoured: every cluster's raw average pairwise score still reaches the threshold."""
    rng = np.random.default_rng(3)
    # A crowd: 40 people with 6 faces each around one common direction (they score high
    # with strangers), and 30 pairs of faces elsewhere that score just under the threshold.
    common = l2_normalize(rng.normal(size=(1, 64)))[0]
    crowd = l2_normalize(common + 0.5 * rng.normal(size=(40, 64)) / 8)
    faces = [l2_normalize(c + 0.15 * rng.normal(size=(6, 64)) / 8) for c in crowd]
    loners = []
    for _ in range(30):
        centre = l2_normalize(rng.normal(size=(1, 64)))[0]
        loners.append(l2_normalize(centre + 0.62 * rng.normal(size=(2, 64)) / 8))
    x = np.concatenate(faces + loners).astype(np.float32)
    threshold = 0.8
    raw = agglomerate(x, threshold, normalise=False).labels
    labels = agglomerate(x, threshold).labels
    for found in (raw, labels):
        for c in np.unique(found):
            members = x[found == c]
            if len(members) > 1:
                s = members @ members.T
                mean = (s.sum() - np.trace(s)) / (len(members) * (len(members) - 1))
                assert mean >= threshold - 1e-6
    scores, near = nearest(x, 30)
    excess = cohort_excess(scores, near, raw)
    assert (excess >= 0).all() and (excess[-60:] == 0).all()


def test_past_the_exact_limit_neighbours_come_from_an_inverted_file_index(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from facesift.match import clustering

    x, _, _ = _people(50, 40, spread=0.3)
    _, exact = nearest(x, 10)
    monkeypatch.setattr(clustering, "EXACT_SEARCH_UP_TO", 100)
    scores, approximate = nearest(x, 10)
    assert not (approximate == np.arange(len(x))[:, None]).any()
    assert (np.diff(scores, axis=1) <= 1e-6).all()
    shared = [len(set(a) & set(e)) / 10 for a, e in zip(approximate, exact, strict=True)]
    assert np.mean(shared) >= 0.95  # nearly all the exact neighbours
