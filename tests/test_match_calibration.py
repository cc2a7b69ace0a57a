"""Calibration: score -> estimated false-match rate, fitted on impostor comparisons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from facesift import FaceEngine
from facesift.match.calibration import (
    Calibration,
    Estimate,
    SeenTogether,
    band,
    binomial_interval,
    bundled_calibration,
    cooccurrence_pairs,
    fit_calibration,
    genuine_scores,
    impostor_scores,
    labelled_impostor_pairs,
    pipeline_differences,
)
from tests.analyses import sharing_analyses


@pytest.fixture(scope="module")
def synthetic() -> tuple[np.ndarray, Calibration]:
    scores = np.random.default_rng(0).normal(0.5, 0.1, 200_000)
    return scores, fit_calibration(scores, "model", "abc", {"dataset": "synthetic"})


def test_fmr_matches_the_impostor_tail(synthetic) -> None:
    scores, calibration = synthetic
    for fmr in (0.1, 1e-2, 1e-3, 1e-4):
        threshold = calibration.threshold_for(fmr, "point")
        assert np.mean(scores >= threshold) == pytest.approx(fmr, rel=0.05)
        assert calibration.fmr_for(threshold, "point") == pytest.approx(fmr, rel=1e-6)
        # Decisions use the upper end of the interval: a higher score for the same FMR.
        conservative = calibration.threshold_for(fmr)
        assert calibration.fmr_for(conservative) == pytest.approx(fmr, rel=1e-6)
        assert conservative > threshold
        assert np.mean(scores >= conservative) <= fmr
        lower, point, upper = calibration.interval(threshold)
        assert lower < point < upper and point == pytest.approx(fmr, rel=1e-6)
    # Monotone, bounded at the top by what no pair reached and by 1 at the bottom.
    grid = np.linspace(0.0, 1.0, 101)
    values = calibration.fmr_for(grid)
    assert np.all(np.diff(values) <= 0)
    assert values[0] == 1.0 and values[-1] == pytest.approx(calibration.floor)
    assert calibration.fmr_for(1.0, "point") == pytest.approx(1 / 200_000)
    with pytest.raises(ValueError, match="outside"):
        calibration.threshold_for(1e-9)


def test_binomial_bounds_by_hand() -> None:
    # No hit in n pairs: the 97.5% upper bound solves (1 - p)^n = 0.025.
    lower, upper = binomial_interval(np.array([0, 10]), 1000)
    assert lower[0] == 0.0 and upper[0] == pytest.approx(1 - 0.025 ** (1 / 1000), rel=1e-9)
    # 10 of 1000: the Clopper-Pearson interval of a 1% rate (published tables: 0.48%-1.83%).
    assert lower[1] == pytest.approx(0.0048, abs=1e-4) and upper[1] == pytest.approx(
        0.0183, abs=1e-4
    )
    calibration = fit_calibration(np.linspace(0, 1, 1000), "m", "s")
    assert calibration.floor == pytest.approx(upper[0])


def _people_pairs(people: int, photos: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Impostor scores where how alike two people look varies from pair of people to pair
    (as among real faces), with the people on each side of every pair."""
    rng = np.random.default_rng(seed)
    likeness = rng.normal(0.0, 0.1, (people, people))
    likeness = (likeness + likeness.T) / 2
    who = np.repeat(np.arange(people), photos)
    i, j = np.triu_indices(len(who), 1)
    keep = who[i] != who[j]
    i, j = i[keep], j[keep]
    scores = 0.5 + likeness[who[i], who[j]] + rng.normal(0.0, 0.08, len(i))
    return scores, np.stack([who[i], who[j]], axis=1)


def test_interval_resamples_people_and_holds_on_new_people() -> None:
    scores, units = _people_pairs(20, 8, seed=1)
    by_people = fit_calibration(scores, "m", "s", units=units)
    binomial = fit_calibration(scores, "m", "s")
    score = by_people.threshold_for(1e-2, "point")
    # Pairs of the same few people are not independent: the interval over people is wider.
    low_p, _, high_p = by_people.interval(score)
    low_b, _, high_b = binomial.interval(score)
    assert high_p > high_b * 1.1 and low_p < low_b
    # Held-apart people of the same population: the binomial bound's threshold lets through
    # more false matches than its target more often than the bound over people does.
    over = {"people": 0, "binomial": 0}
    for seed in range(20):
        fit_scores, fit_units = _people_pairs(20, 8, seed=100 + seed)
        new_scores, _ = _people_pairs(20, 8, seed=200 + seed)
        for name, fit in (
            ("people", fit_calibration(fit_scores, "m", "s", units=fit_units)),
            ("binomial", fit_calibration(fit_scores, "m", "s")),
        ):
            over[name] += np.mean(new_scores >= fit.threshold_for(1e-2)) > 1e-2
    print(f"of 20 fits, judged on new people, over 1e-2: {over}")
    assert over["people"] <= 3 and over["binomial"] >= over["people"] + 3


def test_round_trip_and_bands(synthetic, tmp_path: Path) -> None:
    _, calibration = synthetic
    path = tmp_path / "c.json"
    calibration.save(path)
    again = Calibration.load(path)
    assert again.impostor_pairs == 200_000 and again.provenance == {"dataset": "synthetic"}
    assert again.threshold_for(1e-3) == pytest.approx(calibration.threshold_for(1e-3), abs=1e-6)
    assert [band(f) for f in (5e-4, 1e-3, 5e-3, 0.02)] == ["strong", "strong", "possible", "weak"]
    with pytest.raises(ValueError, match="too few"):
        fit_calibration(np.zeros(10), "m", "s")


def test_pairs_by_label() -> None:
    vectors = np.array([[1, 0], [1, 0.1], [0, 1], [0.1, 1]], np.float32)
    labels = ["a", "a", "b", "b"]
    assert len(impostor_scores(vectors, labels)) == 4 and len(genuine_scores(vectors, labels)) == 2
    assert genuine_scores(vectors, labels).min() > impostor_scores(vectors, labels).max()
    pairs = labelled_impostor_pairs(vectors, np.array(labels), "gallery", chunk=3)
    assert sorted(pairs.scores.round(5)) == sorted(impostor_scores(vectors, labels).round(5))
    assert pairs.unit_count == 2 and {tuple(u) for u in pairs.units} == {(0, 1)}


def test_cooccurrence_pairs_are_different_people_of_one_picture() -> None:
    rng = np.random.default_rng(0)
    v = rng.normal(size=(6, 8)).astype(np.float32)

    def seen(media: int, frame: int, key: tuple[str, int], k: int, x: float) -> SeenTogether:
        return SeenTogether((media, frame), key, v[k], (x, 0.0, x + 10.0, 10.0))

    items = [
        # Photo 1: three faces, one box overlapping another (a double detection): 2 pairs.
        seen(1, 0, ("face", 1), 0, 0.0),
        seen(1, 0, ("face", 2), 1, 20.0),
        seen(1, 0, ("face", 3), 2, 25.0),
        # Video 2: tracks 7 and 8 together in three frames: one pair (of their templates).
        *(seen(2, f, ("track", 7), 3, 0.0) for f in (0, 5, 10)),
        *(seen(2, f, ("track", 8), 4, 50.0) for f in (0, 5, 10)),
        # A face alone in its picture: no pair.
        seen(3, 0, ("face", 9), 5, 0.0),
    ]
    pairs = cooccurrence_pairs(items)
    assert len(pairs.scores) == 3 and pairs.unit_count == 2
    unit = v / np.linalg.norm(v, axis=1, keepdims=True)
    expected = sorted([unit[0] @ unit[1], unit[0] @ unit[2], unit[3] @ unit[4]])
    assert np.allclose(sorted(pairs.scores), expected, atol=1e-6)
    assert sorted(map(tuple, pairs.units.tolist())) == [(1, 1), (1, 1), (2, 2)]


def test_shipped_calibration_belongs_to_the_bundled_model(engine: FaceEngine) -> None:
    calibration = bundled_calibration(engine.model_name, engine.model_sha256)
    assert calibration is not None and calibration.impostor_pairs > 5_000_000
    assert calibration.provenance["pairs_file"] == "pairsDevTrain.txt"
    assert calibration.threshold_for(1e-3) > calibration.threshold_for(1e-2)
    assert calibration.fmr_for(calibration.threshold_for(1e-3)) == pytest.approx(1e-3, rel=1e-6)
    assert bundled_calibration(engine.model_name, "another-hash") is None


# Held-out checks of the shipped calibrations: how far from their "FMR t" the true rate on
# people they never saw may be, as a factor either way, at the 95% confidence of the
# measurement; at these FMRs.
MARGIN = 1.5
HELD_OUT_LEVELS = (1e-2, 1e-3, 1e-4)


@dataclass(frozen=True)
class HeldOut:
    """Different-person comparisons among LFW View 1 DevTest photos, whose people the shipped
    calibrations (fitted on DevTrain) never saw: probe faces against gallery faces."""

    name: str
    scores: np.ndarray  # the product's impostor scores, each pair once
    probes: np.ndarray  # unit vectors
    probe_people: np.ndarray  # person index of each probe
    gallery: np.ndarray  # unit vectors (the probes themselves where `symmetric`)
    gallery_people: np.ndarray
    symmetric: bool  # probes and gallery are one set: scores hold each pair i < j once
    calibration: Calibration


def _dev_test_photos(lfw: Path) -> list[Path]:
    from facesift.workflows.evaluate import read_pairs

    dev_test = read_pairs(lfw / "pairsDevTest.txt", lfw / "images")
    dev_train = read_pairs(lfw / "pairsDevTrain.txt", lfw / "images")
    photos = sorted({p for pair in dev_test for p in (pair.a, pair.b)})
    # DevTrain (the calibrations' photos) and DevTest share no one.
    assert not {p.parent.name for pair in dev_train for p in (pair.a, pair.b)} & {
        p.parent.name for p in photos
    }
    return photos


def _people(*labels: list[str]) -> list[np.ndarray]:
    _, ids = np.unique(np.concatenate(labels), return_inverse=True)
    return list(np.split(ids, np.cumsum([len(x) for x in labels])[:-1]))


@dataclass(frozen=True)
class DevTestEmbedded:
    """The DevTest photos' main faces (prefer "central"), embedded once for both held-out
    sets; every other photo, the low-resolution set's gallery, with its low-resolution
    template too (a template adds to a face's analysis, leaving its vector as it is)."""

    photos: list[Path]
    vectors: np.ndarray  # one row per photo, NaN where no face was found
    gallery_low_res: np.ndarray  # templates of photos[::2]


@pytest.fixture(scope="module")
def dev_test_embedded(engine: FaceEngine, lfw: Path) -> DevTestEmbedded:
    from facesift.workflows.evaluate import embed_photos

    photos = _dev_test_photos(lfw)
    with sharing_analyses():  # test_evaluate's ten-fold protocol analyses DevTest's photos too
        gallery = embed_photos(engine, photos[::2], prefer="central", templates=True)
        rest = embed_photos(engine, photos[1::2], prefer="central")
    assert gallery.paths == photos[::2] and rest.paths == photos[1::2]
    assert gallery.low_res is not None
    vectors = np.empty((len(photos), gallery.vectors.shape[1]), np.float32)
    vectors[::2], vectors[1::2] = gallery.vectors, rest.vectors
    return DevTestEmbedded(photos, vectors, gallery.low_res)


@pytest.fixture(scope="module")
def held_out(engine: FaceEngine, dev_test_embedded: DevTestEmbedded) -> HeldOut:
    """All different-person pairs of the DevTest photos (~1.2 M pairs, ~960 people)."""
    from facesift.vision.similarity import l2_normalize

    photos, vectors = dev_test_embedded.photos, dev_test_embedded.vectors
    found = ~np.isnan(vectors).any(axis=1)
    labels = [p.parent.name for p, ok in zip(photos, found, strict=True) if ok]
    shipped = bundled_calibration(
        engine.model_name, engine.model_sha256, pipeline=engine.describe()
    )
    assert shipped is not None and shipped.provenance["pairs_file"] == "pairsDevTrain.txt"
    assert not pipeline_differences(shipped, engine.describe())  # fitted for this pipeline
    unit = l2_normalize(vectors[found])
    (people,) = _people(labels)
    scores = impostor_scores(vectors[found], labels)
    assert len(scores) > 1_000_000
    return HeldOut("standard", scores, unit, people, unit, people, True, shipped)


@pytest.fixture(scope="module")
def held_out_low_res(
    engine: FaceEngine,
    dev_test_embedded: DevTestEmbedded,
    tmp_path_factory: pytest.TempPathFactory,
) -> HeldOut:
    """Small probes (every other DevTest photo shrunk 0.4×, blurred σ 0.8, JPEG 35: another
    recipe than the fit's) against the low-resolution templates of those photos, other
    people only (~600 k pairs)."""
    import io

    from PIL import Image, ImageFilter

    from facesift.match.calibration import cross_impostor_scores
    from facesift.vision.similarity import l2_normalize
    from facesift.workflows.evaluate import embed_photos

    photos = dev_test_embedded.photos[::2]
    folder = tmp_path_factory.mktemp("small-probes")
    probes = []
    for k, photo in enumerate(photos):
        image = Image.open(photo).convert("RGB").resize((100, 100), Image.BICUBIC)
        buffer = io.BytesIO()
        image.filter(ImageFilter.GaussianBlur(0.8)).save(buffer, "JPEG", quality=35)
        probes.append(folder / f"{k}.jpg")
        probes[-1].write_bytes(buffer.getvalue())
    gallery_low_res = dev_test_embedded.gallery_low_res
    small = embed_photos(engine, probes, prefer="central")
    assert small.face_px is not None
    assert np.nanmedian(small.face_px) < 56  # these probes are matched against templates
    g_ok = ~np.isnan(gallery_low_res).any(axis=1)
    p_ok = ~np.isnan(small.vectors).any(axis=1)
    p_labels = [p.parent.name for p, ok in zip(photos, p_ok, strict=True) if ok]
    g_labels = [p.parent.name for p, ok in zip(photos, g_ok, strict=True) if ok]
    scores = cross_impostor_scores(small.vectors[p_ok], p_labels, gallery_low_res[g_ok], g_labels)
    assert len(scores) > 300_000
    calibration = bundled_calibration(
        engine.model_name, engine.model_sha256, low_res=True, pipeline=engine.describe()
    )
    assert calibration is not None and calibration.provenance["pairs_file"] == "pairsDevTrain.txt"
    assert not pipeline_differences(calibration, engine.describe())
    p_people, g_people = _people(p_labels, g_labels)
    return HeldOut(
        "low-resolution",
        scores,
        l2_normalize(small.vectors[p_ok]),
        p_people,
        l2_normalize(gallery_low_res[g_ok]),
        g_people,
        False,
        calibration,
    )


def _held_out_rate(
    held_out: HeldOut, target: float, estimate: Estimate = "upper"
) -> tuple[float, float]:
    """The Clopper-Pearson 95% interval of the true FMR at the score where the calibration's
    `estimate` of the FMR is `target` ("upper": the score decisions use), printed with the
    pair counts; skips where the pairs cannot resolve MARGIN."""
    n = len(held_out.scores)
    threshold = held_out.calibration.threshold_for(target, estimate)
    hits = int(np.sum(held_out.scores >= threshold))
    (lower,), (upper,) = binomial_interval(np.array([hits]), n)
    by_people = _people_bootstrap(held_out, threshold, hits)
    print(
        f"\n{held_out.name} {estimate} 'FMR {target:g}' (score {threshold:.4f}) on {n:,} held-out "
        f"different-person pairs: {hits} at or above it, FMR {hits / n:.3e}, 95% CI "
        f"[{lower:.3e}, {upper:.3e}] = [{lower / target:.2f}, {upper / target:.2f}] x target;"
        f" bootstrap over people [{by_people[0] / target:.2f}, {by_people[1] / target:.2f}]"
    )
    # Even a rate exactly on target is measured as an interval: where the pairs are too few
    # for that interval to fit within MARGIN, this level cannot be checked to MARGIN at all.
    expected = round(target * n)
    (lo,), (hi,) = binomial_interval(np.array([expected]), n)
    if lo < target / MARGIN or hi > target * MARGIN:
        pytest.skip(
            f"{n:,} pairs expect {expected} at FMR {target:g}: even then the 95% interval "
            f"[{lo / target:.2f}, {hi / target:.2f}] x target is wider than {MARGIN}x"
        )
    return float(lower), float(upper)


def _people_bootstrap(
    held_out: HeldOut, threshold: float, hits: int, replicates: int = 400
) -> np.ndarray:
    """The 95% interval of the rate when whole people are resampled (a Poisson(1) weight
    each; a pair weighs the product of its two people's). Pairs that share a person are not
    independent, so this is wider than Clopper-Pearson's, which counts each pair as an
    independent trial. Printed, for the record."""
    i, j = np.nonzero(held_out.probes @ held_out.gallery.T >= threshold)
    a, b = held_out.probe_people[i], held_out.gallery_people[j]
    other = a != b
    a, b = a[other], b[other]
    assert len(a) == (2 * hits if held_out.symmetric else hits)  # the same pairs
    count = max(held_out.probe_people.max(), held_out.gallery_people.max()) + 1
    on_probe_side = np.bincount(held_out.probe_people, minlength=count)
    on_gallery_side = np.bincount(held_out.gallery_people, minlength=count)
    w = np.random.default_rng(0).poisson(1.0, (replicates, count)).astype(np.float64)
    weighted_hits = (w[:, a] * w[:, b]).sum(axis=1)
    # All different-person pairs, weighed: every probe-gallery pair less those of one person.
    weighted_pairs = (w @ on_probe_side) * (w @ on_gallery_side) - (w**2) @ (
        on_probe_side * on_gallery_side
    )
    return np.quantile(weighted_hits / weighted_pairs, [0.025, 0.975])


@pytest.mark.datasets
@pytest.mark.parametrize("target", HELD_OUT_LEVELS)
def test_shipped_fmr_is_not_exceeded_on_people_it_never_saw(
    held_out: HeldOut, target: float
) -> None:
    """The shipped calibration (LFW View 1 DevTrain) on all different-person pairs of the
    DevTest photos: the true rate at the score decisions use for "FMR t" (where the upper end
    of the calibration's interval is t) is, with 95% confidence, at most MARGIN × t: the
    estimate errs towards more false matches, never fewer. Being cautious is by design (the
    interval resamples people), so the true rate there is often well below t (measured with
    the default pipeline's calibration: 95% CI [0.86, 0.89] x t at 1e-2, [0.58, 0.67] at
    1e-3, [0.32, 0.56] at 1e-4); how accurate the calibration is, is checked on its point
    estimate below.

    The interval is Clopper-Pearson over pairs, which takes every pair as independent; pairs
    sharing a person are not, and the printed bootstrap over people is wider.

    The check this replaces (t/3 ≤ FMR ≤ 3t at 1e-2 and 1e-3) passed with each threshold
    swapped for the shipped one of 2.5 × t (held-out FMR 2.4e-2 at "1e-2", 2.2e-3 at "1e-3");
    this one fails with it at every level (interval upper ends 2.4, 2.2 and 1.9 x t)."""
    _, upper = _held_out_rate(held_out, target)
    assert upper <= MARGIN * target


# Measured at the point estimate's 'FMR 1e-4': 6.8e-5, 95% CI 5.4e-5 to 8.5e-5 (82 pairs of
# 1.2 M): DevTrain's people were more alike than DevTest's at that extreme.
CAUTIOUS_AT_1E4 = pytest.mark.xfail(
    strict=True,
    raises=AssertionError,
    reason="at 'FMR 1e-4' the shipped calibration's point estimate is more than 1.5x cautious "
    "on people it never saw (the safe side); strict, so a refitted one that is not removes "
    "this mark",
)


@pytest.mark.datasets
@pytest.mark.parametrize(
    "target",
    [*HELD_OUT_LEVELS[:-1], pytest.param(HELD_OUT_LEVELS[-1], marks=CAUTIOUS_AT_1E4)],
)
def test_shipped_point_estimate_is_within_the_margin_on_people_it_never_saw(
    held_out: HeldOut, target: float
) -> None:
    """How accurate the shipped calibration is: at the score where its point estimate is t,
    the true rate on people it never saw is, with 95% confidence, within MARGIN of t either
    way (a calibration far more cautious than it says would cost recognition; one less
    cautious would mislead)."""
    lower, upper = _held_out_rate(held_out, target, "point")
    assert target / MARGIN <= lower and upper <= MARGIN * target


@pytest.mark.datasets
@pytest.mark.parametrize("target", HELD_OUT_LEVELS)
def test_low_resolution_fmr_holds_on_people_the_calibration_never_saw(
    held_out_low_res: HeldOut, target: float
) -> None:
    """The shipped low-resolution calibration (small probes against low-resolution templates
    of DevTrain photos) on small DevTest probes made another way: at the score decisions use
    the true rate is, with 95% confidence, at most MARGIN × t, and at its point estimate's
    score within MARGIN of t either way. The check this replaces allowed 3× either way."""
    _, upper = _held_out_rate(held_out_low_res, target)
    assert upper <= MARGIN * target
    lower, upper = _held_out_rate(held_out_low_res, target, "point")
    assert target / MARGIN <= lower and upper <= MARGIN * target


def test_workspace_calibration_replaces_the_shipped_one(
    tmp_path: Path, engine: FaceEngine, hopper_path: Path
) -> None:
    from facesift import Workspace, WorkspaceError

    ws = Workspace(tmp_path / "ws", engine=engine)
    ws.enroll("Grace Hopper", [hopper_path])
    shipped = ws.search(hopper_path).faces[0].candidates[0]
    assert ws.decision().calibration["pairs_file"] == "pairsDevTrain.txt"
    # A (deliberately odd) calibration of the user's own: every score up to 1.0 is common.
    scores = np.random.default_rng(0).uniform(0.9, 1.0, 10_000)
    own = fit_calibration(scores, engine.model_name, engine.model_sha256, {"root": "my-people"})
    ws.save_calibration(own)
    mine = ws.search(hopper_path).faces[0].candidates[0]
    assert ws.decision().calibration["root"] == "my-people"
    assert mine.score == shipped.score and mine.fmr > shipped.fmr
    with pytest.raises(WorkspaceError, match="another model"):
        ws.save_calibration(fit_calibration(scores, "other", "other-sha"))
