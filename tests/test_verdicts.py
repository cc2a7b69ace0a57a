"""What a 1:1 verdict says follows its band and never claims more, on real look-alikes."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesift import FaceEngine, Workspace
from facesift.reports.text import verification_text

pytestmark = pytest.mark.datasets


def test_lookalikes_in_the_strong_band_are_not_called_the_same_person(
    tmp_path: Path, lfw: Path, engine: FaceEngine
) -> None:
    """Two different, similar-looking people (LFW View 1) score in the strong band: the
    verdict must call it a lead, not an identification, and show the FMR as an estimate."""
    images = lfw / "images"
    with Workspace(tmp_path / "ws", engine=engine) as ws:
        result = ws.verify(
            images / "Jennifer_Lopez" / "Jennifer_Lopez_0004.jpg",
            images / "Angelina_Jolie" / "Angelina_Jolie_0016.jpg",
        )
        same_photo = images / "Angelina_Jolie" / "Angelina_Jolie_0016.jpg"
        identical = ws.verify(same_photo, same_photo)
    print(f"Lopez/Jolie: score {result.score:.4f}, fmr {result.fmr}, band {result.band}")
    assert result.band == "strong" and result.same_person  # measured 0.948, fmr 4.4e-05
    words = verification_text(result)
    assert "not proof" in words and "same person" not in words
    assert result.to_dict()["verdict"] == result.verdict and not result.fmr_is_bound
    # A score above every different-person pair of the calibration: its FMR is only a bound.
    assert identical.fmr_is_bound and "fmr < " in verification_text(identical)
    assert identical.to_dict()["fmr_is_bound"] is True
