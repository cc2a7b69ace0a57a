"""The decision policy: which calibration is in force, thresholds as FMRs, warnings."""

from __future__ import annotations

import numpy as np
import pytest

from facesift.match.calibration import Calibration, fit_calibration
from facesift.match.policy import DecisionPolicy


def _fit(mean: float, pairs: int, people: int = 60, seed: int = 0) -> Calibration:
    rng = np.random.default_rng(seed)
    scores = rng.normal(mean, 0.05, pairs)
    units = rng.integers(0, people, (pairs, 2))
    return fit_calibration(scores, "m", "s", {"units": people}, units=units)


@pytest.fixture(scope="module")
def shipped() -> Calibration:
    return fit_calibration(np.random.default_rng(1).normal(0.80, 0.05, 500_000), "m", "s")


def test_baseline_stays_where_the_population_agrees(shipped: Calibration) -> None:
    # The workspace's own pairs look like the baseline's, or separate better: no switch.
    for mean in (0.80, 0.70):
        policy = DecisionPolicy(1e-3, baseline=shipped, local=_fit(mean, 50_000))
        assert policy.check is not None and not policy.check.mismatch
        assert policy.active is shipped and policy.source == "shipped"
        assert policy.threshold == pytest.approx(shipped.threshold_for(1e-3))
        assert policy.warnings == []


def test_mismatch_switches_to_the_workspace_calibration_and_says_so(shipped: Calibration) -> None:
    local = _fit(0.86, 50_000)
    policy = DecisionPolicy(1e-3, baseline=shipped, local=local, low_res=shipped)
    check = policy.check
    assert check is not None and check.mismatch and check.lower > 3e-3
    assert policy.active is local and policy.source == "local"
    # The threshold is the workspace's own FMR 1e-3 score, higher than the baseline's.
    assert policy.threshold == pytest.approx(local.threshold_for(1e-3))
    assert policy.threshold > shipped.threshold_for(1e-3) + 0.03
    score = shipped.threshold_for(1e-3)
    assert policy.evidence(score) == (pytest.approx(local.fmr_for(score)), "weak")
    # Small probes: never less than the workspace's own standard estimate.
    assert policy.fmr_for(score, low_res=True) >= local.fmr_for(score)
    assert policy.low_res_threshold >= policy.threshold
    assert any(w.startswith("population mismatch") for w in policy.warnings)
    assert policy.describe()["population_check"]["mismatch"] is True


def test_a_small_sample_cannot_claim_a_mismatch(shipped: Calibration) -> None:
    # 150 pairs among 4 people that score a little higher: the interval is too wide to tell.
    local = _fit(0.84, 150, people=4, seed=3)
    policy = DecisionPolicy(1e-3, baseline=shipped, local=local)
    assert policy.check is not None and not policy.check.mismatch
    assert policy.active is shipped


def test_too_few_pairs_to_vouch_for_the_target(shipped: Calibration) -> None:
    local = _fit(0.9, 500, people=20)
    policy = DecisionPolicy(1e-3, baseline=None, local=local)
    assert policy.active is local and not local.resolves(1e-3)
    # The strictest score the data supports, and warnings that say why.
    assert policy.threshold_for(1e-3) == pytest.approx(local.threshold_for(local.floor))
    assert policy.evidence(0.999)[1] != "strong"
    assert any("too few" in w for w in policy.warnings)
    assert any("only from this workspace" in w for w in policy.warnings)


def test_uncalibrated_and_fixed_thresholds() -> None:
    policy = DecisionPolicy(1e-3, uncalibrated_threshold=0.5)
    assert not policy.calibrated and policy.threshold == 0.5
    assert policy.evidence(0.9) == (None, "uncalibrated") and policy.describe() is None
    with pytest.raises(ValueError, match="no calibration"):
        policy.threshold_for(1e-3)
    fixed = DecisionPolicy(1e-3, baseline=_fit(0.8, 10_000), fixed_threshold=0.77)
    assert fixed.threshold == 0.77 and fixed.describe()["decision_fmr"] is None


def test_a_calibration_measured_with_another_pipeline_is_flagged_on_every_result() -> None:
    scores = np.random.default_rng(2).normal(0.8, 0.05, 100_000)
    hog = {"detector": "dlib_hog", "detector_sha256": None, "min_face_px": 30.0,
           "landmarks_sha256": "l"}  # fmt: skip
    calibration = fit_calibration(scores, "m", "s", {"pipeline": hog})
    same = DecisionPolicy(1e-3, baseline=calibration, pipeline=dict(hog))
    assert same.warnings == [] and same.pipeline_warnings() == []
    mmod = {**hog, "detector": "dlib_mmod_cnn", "detector_sha256": "abc"}
    other = DecisionPolicy(1e-3, baseline=calibration, pipeline=mmod)
    (warning,) = other.warnings
    assert "detector dlib_hog, here dlib_mmod_cnn" in warning
    assert "detector_sha256 None, here abc" in warning
    smaller = DecisionPolicy(1e-3, baseline=calibration, pipeline={**hog, "min_face_px": 20.0})
    assert "min_face_px 30.0, here 20.0" in smaller.warnings[0]
    # Without a recorded pipeline there is nothing to compare (older calibrations).
    bare = fit_calibration(scores, "m", "s")
    assert DecisionPolicy(1e-3, baseline=bare, pipeline=mmod).warnings == []


def test_the_shipped_calibration_for_the_running_pipeline_is_chosen(engine) -> None:
    from facesift.match.calibration import bundled_calibration

    pipeline = engine.describe()
    chosen = bundled_calibration(engine.model_name, engine.model_sha256, pipeline=pipeline)
    assert chosen is not None
    measured = chosen.provenance["pipeline"]
    # The default CPU pipeline has a calibration of its own; another gets the default one,
    # which the policy then flags.
    assert {k: measured[k] for k in ("detector", "min_face_px")} == {
        k: pipeline[k] for k in ("detector", "min_face_px")
    }
    other = {**pipeline, "detector": "dlib_mmod_cnn"}
    fallback = bundled_calibration(engine.model_name, engine.model_sha256, pipeline=other)
    assert fallback is not None
    assert DecisionPolicy(1e-3, baseline=fallback, pipeline=other).pipeline_warnings()
