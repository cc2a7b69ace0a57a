"""Calibration: score -> estimated false-match rate, fitted on impostor comparisons."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from facesift import FaceEngine
from facesift.match.calibration import (
    Calibration,
    band,
    bundled_calibration,
    fit_calibration,
    genuine_scores,
    impostor_scores,
)


@pytest.fixture(scope="module")
def synthetic() -> tuple[np.ndarray, Calibration]:
    scores = np.random.default_rng(0).normal(0.5, 0.1, 200_000)
    return scores, fit_calibration(scores, "model", "abc", {"dataset": "synthetic"})


def test_fmr_matches_the_impostor_tail(synthetic) -> None:
    scores, calibration = synthetic
    for fmr in (0.1, 1e-2, 1e-3, 1e-4):
        threshold = calibration.threshold_for(fmr)
        assert np.mean(scores >= threshold) == pytest.approx(fmr, rel=0.05)
        assert calibration.fmr_for(threshold) == pytest.approx(fmr, rel=1e-6)
    # Monotone, bounded by one pair at the top and 1 at the bottom.
    grid = np.linspace(0.0, 1.0, 101)
    values = calibration.fmr_for(grid)
    assert np.all(np.diff(values) <= 0)
    assert values[0] == 1.0 and values[-1] == pytest.approx(calibration.floor)
    with pytest.raises(ValueError, match="outside"):
        calibration.threshold_for(1e-9)


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


def test_shipped_calibration_belongs_to_the_bundled_model(engine: FaceEngine) -> None:
    calibration = engine.calibration
    assert calibration is not None and calibration.impostor_pairs > 5_000_000
    assert calibration.provenance["pairs_file"] == "pairsDevTrain.txt"
    assert engine.threshold_for(1e-3) > engine.threshold_for(1e-2)
    assert engine.fmr_for(engine.threshold_for(1e-3)) == pytest.approx(1e-3, rel=1e-6)
    assert bundled_calibration(engine.model_name, "another-hash") is None


@pytest.mark.datasets
def test_fmr_holds_on_people_the_calibration_never_saw(engine: FaceEngine, lfw: Path) -> None:
    """Fitted on DevTrain only; checked on all different-person pairs of the DevTest photos."""
    from facesift.workflows.evaluate import embed_photos, read_pairs

    photos = sorted(
        {
            p
            for pair in read_pairs(lfw / "pairsDevTest.txt", lfw / "images")
            for p in (pair.a, pair.b)
        }
    )
    embedded = embed_photos(engine, photos, prefer="central")
    found = ~np.isnan(embedded.vectors).any(axis=1)
    labels = [p.parent.name for p, ok in zip(photos, found, strict=True) if ok]
    impostors = impostor_scores(embedded.vectors[found], labels)
    assert len(impostors) > 1_000_000
    for target in (1e-3, 1e-2):
        measured = float(np.mean(impostors >= engine.threshold_for(target)))
        assert target / 3 <= measured <= target * 3, (target, measured)


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


@pytest.mark.datasets
def test_low_resolution_fmr_holds_on_people_the_calibration_never_saw(
    engine: FaceEngine, lfw: Path, tmp_path: Path
) -> None:
    """Small probes (shrunk 0.4×, blurred σ 0.8, JPEG 35: another recipe than the fit's)
    against the low-resolution templates of DevTest photos of other people."""
    import io

    from PIL import Image, ImageFilter

    from facesift.match.calibration import cross_impostor_scores
    from facesift.workflows.evaluate import embed_photos, read_pairs

    photos = sorted(
        {
            p
            for pair in read_pairs(lfw / "pairsDevTest.txt", lfw / "images")
            for p in (pair.a, pair.b)
        }
    )[::2]
    probes = []
    for k, photo in enumerate(photos):
        image = Image.open(photo).convert("RGB").resize((100, 100), Image.BICUBIC)
        buffer = io.BytesIO()
        image.filter(ImageFilter.GaussianBlur(0.8)).save(buffer, "JPEG", quality=35)
        probes.append(tmp_path / f"{k}.jpg")
        probes[-1].write_bytes(buffer.getvalue())
    gallery = embed_photos(engine, photos, prefer="central", templates=True)
    small = embed_photos(engine, probes, prefer="central")
    assert gallery.low_res is not None and small.face_px is not None
    assert np.nanmedian(small.face_px) < 56  # these probes are matched against templates
    g_ok = ~np.isnan(gallery.low_res).any(axis=1)
    p_ok = ~np.isnan(small.vectors).any(axis=1)
    impostors = cross_impostor_scores(
        small.vectors[p_ok],
        [p.parent.name for p, ok in zip(photos, p_ok, strict=True) if ok],
        gallery.low_res[g_ok],
        [p.parent.name for p, ok in zip(photos, g_ok, strict=True) if ok],
    )
    assert len(impostors) > 300_000
    calibration = engine.low_res_calibration
    assert calibration is not None and calibration.provenance["pairs_file"] == "pairsDevTrain.txt"
    for target in (1e-3, 1e-2):
        measured = float(np.mean(impostors >= calibration.threshold_for(target)))
        assert target / 3 <= measured <= target * 3, (target, measured)
