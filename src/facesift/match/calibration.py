"""Calibration: what a score means, as the rate at which different people score that high.

A calibration is fitted on impostor (different-person) comparisons: for a score s, the
estimated false-match rate FMR(s) is the fraction of impostor pairs scoring s or more. It is
stored as a table of (score, FMR) points, log-spaced in FMR down to 1 / (number of pairs), and
read back by interpolating log FMR linearly in score. Below the table's reach the estimate is
only a bound: "at most 1 / pairs".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from facesift.match.similarity import l2_normalize

# Evidence bands, by estimated FMR.
STRONG_FMR = 1e-3
POSSIBLE_FMR = 1e-2


def band(fmr: float) -> str:
    """ "strong" (FMR ≤ 1e-3), "possible" (≤ 1e-2) or "weak"."""
    if fmr <= STRONG_FMR:
        return "strong"
    if fmr <= POSSIBLE_FMR:
        return "possible"
    return "weak"


@dataclass(frozen=True)
class Calibration:
    """The score → estimated FMR map of one model, with where it came from."""

    scores: np.ndarray  # ascending
    fmrs: np.ndarray  # the FMR at each score: descending, in (0, 1]
    impostor_pairs: int
    model_name: str
    model_sha256: str
    provenance: dict[str, Any] = field(default_factory=dict)

    @property
    def floor(self) -> float:
        """The smallest FMR the data can resolve: one impostor pair."""
        return 1.0 / self.impostor_pairs

    def fmr_for(self, score: float | np.ndarray) -> float | np.ndarray:
        """Estimated FMR at `score` (vectorised); never below `floor`."""
        log_fmr = np.interp(
            score, self.scores, np.log10(self.fmrs), left=0.0, right=np.log10(self.floor)
        )
        result = np.power(10.0, log_fmr)
        return float(result) if np.ndim(result) == 0 else result

    def threshold_for(self, fmr: float) -> float:
        """The score at which the estimated FMR is `fmr` (so scores ≥ it are rarer)."""
        if not self.floor <= fmr <= 1.0:
            raise ValueError(
                f"FMR {fmr} is outside what this calibration resolves [{self.floor:.2g}, 1]"
            )
        # fmrs descend, so interpolate on the reversed (ascending) arrays.
        return float(np.interp(np.log10(fmr), np.log10(self.fmrs[::-1]), self.scores[::-1]))

    def to_json(self) -> dict[str, Any]:
        return {
            "model_name": self.model_name,
            "model_sha256": self.model_sha256,
            "impostor_pairs": self.impostor_pairs,
            "provenance": self.provenance,
            "table": [
                [round(float(s), 7), float(f"{f:.6g}")]
                for s, f in zip(self.scores, self.fmrs, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        table = np.asarray(data["table"], dtype=np.float64)
        return cls(
            scores=table[:, 0],
            fmrs=table[:, 1],
            impostor_pairs=int(data["impostor_pairs"]),
            model_name=data["model_name"],
            model_sha256=data["model_sha256"],
            provenance=dict(data.get("provenance", {})),
        )

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_json(), indent=1))

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_json(json.loads(path.read_text()))


# File name suffix of calibrations for small probe faces against low-resolution templates.
LOW_RES = ".low-res"


def bundled_calibration(
    model_name: str, model_sha256: str, low_res: bool = False
) -> Calibration | None:
    """The calibration shipped with facesift for this exact model file, if there is one;
    `low_res`: the one for small probe faces against low-resolution templates."""
    name = f"{model_name}{LOW_RES if low_res else ''}.calibration.json"
    resource = resources.files("facesift.match") / "data" / name
    if not resource.is_file():
        return None
    calibration = Calibration.from_json(json.loads(resource.read_text()))
    return calibration if calibration.model_sha256 == model_sha256 else None


def fit_calibration(
    impostor_scores: np.ndarray,
    model_name: str,
    model_sha256: str,
    provenance: dict[str, Any] | None = None,
    points: int = 240,
) -> Calibration:
    """The FMR table of `impostor_scores`, at `points` FMRs log-spaced from 1 to 1/pairs."""
    ordered = np.sort(np.asarray(impostor_scores, dtype=np.float64))
    pairs = len(ordered)
    if pairs < 100:
        raise ValueError(f"{pairs} impostor pairs are too few to calibrate (need at least 100)")
    counts = np.unique(np.round(np.logspace(0, np.log10(pairs), points)).astype(np.int64))
    # For k pairs at or above a score: that score is the k-th largest impostor score.
    scores = ordered[pairs - counts][::-1]
    fmrs = (counts / pairs)[::-1]
    scores, keep = np.unique(scores, return_index=True)  # strictly ascending for interpolation
    return Calibration(scores, fmrs[keep], pairs, model_name, model_sha256, dict(provenance or {}))


def impostor_scores(embeddings: np.ndarray, labels: list[str], chunk: int = 1024) -> np.ndarray:
    """Cosine scores of every pair of embeddings with different labels (i < j)."""
    return np.concatenate(list(_pair_scores(embeddings, np.asarray(labels), chunk, same=False)))


def cross_impostor_scores(
    probes: np.ndarray, probe_labels: list[str], gallery: np.ndarray, gallery_labels: list[str]
) -> np.ndarray:
    """Cosine scores of every probe against every gallery vector of another label."""
    p, g = l2_normalize(probes), l2_normalize(gallery)
    gallery_ids = np.asarray(gallery_labels)
    out = []
    for start in range(0, len(p), 1024):
        block = p[start : start + 1024] @ g.T
        other = np.asarray(probe_labels[start : start + 1024])[:, None] != gallery_ids[None, :]
        out.append(block[other])
    return np.concatenate(out) if out else np.zeros(0, np.float32)


def genuine_scores(embeddings: np.ndarray, labels: list[str], chunk: int = 1024) -> np.ndarray:
    """Cosine scores of every pair of embeddings with the same label (i < j)."""
    return np.concatenate(list(_pair_scores(embeddings, np.asarray(labels), chunk, same=True)))


def _pair_scores(
    vectors: np.ndarray, labels: np.ndarray, chunk: int, same: bool
) -> Iterator[np.ndarray]:
    unit = l2_normalize(vectors)
    yield np.zeros(0, np.float32)
    for start in range(0, len(unit), chunk):
        block = unit[start : start + chunk] @ unit.T
        rows = np.arange(start, min(start + chunk, len(unit)))[:, None]
        upper = np.arange(len(unit))[None, :] > rows
        match = labels[rows] == labels[None, :]
        yield block[upper & (match if same else ~match)]
