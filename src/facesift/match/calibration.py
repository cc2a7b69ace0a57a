"""Calibration: what a score means, as the rate at which different people score that high.

A calibration is fitted on impostor (different-person) comparisons: for a score s, the
estimated false-match rate FMR(s) is the fraction of impostor pairs scoring s or more. It is
stored as a table of (score, FMR) points, log-spaced in FMR down to 1 / (number of pairs), and
read back by interpolating log FMR linearly in score.

Every point also carries a 95% confidence interval. Pairs are not independent: the same few
people (or photos) make up many of them, and how alike two people look varies from pair to
pair of people. So where the fit knows which people or photos each pair comes from, the
interval is a bootstrap over those units (pairs re-weighted as whole people are resampled),
widened to at least the binomial (Clopper-Pearson) interval of the pair count; otherwise it is
the binomial one. Decisions use the upper end (`fmr_for`, `threshold_for`): with few pairs or
few people the estimate is wide and errs on the side of more false matches, never fewer.
Above the highest impostor score the data can only say "at most `floor`".
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import numpy as np
from scipy import sparse, stats

from facesift.vision.similarity import l2_normalize

# Evidence bands, by estimated FMR.
STRONG_FMR = 1e-3
POSSIBLE_FMR = 1e-2

# Two-sided confidence of the interval around each FMR; decisions use its upper end.
CONFIDENCE = 0.95
# Bootstrap replicates over people (or photos) for the interval, at FMRs up to BOOTSTRAP_FMR
# (above it the binomial interval is used: there pairs are many and the bound matters little).
BOOTSTRAP_REPLICATES = 200
BOOTSTRAP_FMR = 0.1

Estimate = Literal["upper", "point", "lower"]


def band(fmr: float) -> str:
    """ "strong" (FMR ≤ 1e-3), "possible" (≤ 1e-2) or "weak"."""
    if fmr <= STRONG_FMR:
        return "strong"
    if fmr <= POSSIBLE_FMR:
        return "possible"
    return "weak"


def binomial_interval(
    hits: np.ndarray, pairs: int, confidence: float = CONFIDENCE
) -> tuple[np.ndarray, np.ndarray]:
    """Clopper-Pearson interval of the rate hits / pairs (exact, never too narrow)."""
    k = np.asarray(hits, dtype=np.float64)
    tail = (1.0 - confidence) / 2
    with np.errstate(invalid="ignore"):
        lower = np.where(k > 0, stats.beta.ppf(tail, np.maximum(k, 1e-9), pairs - k + 1), 0.0)
        upper = np.where(
            k < pairs, stats.beta.ppf(1 - tail, k + 1, np.maximum(pairs - k, 1e-9)), 1.0
        )
    return lower, upper


@dataclass(frozen=True)
class Calibration:
    """The score → estimated FMR map of one model, with its interval and where it came from.

    `fmrs` are the point estimates; `fmr_lower`/`fmr_upper` the interval at each score
    (binomial ones are derived from the pair count when not given).
    """

    scores: np.ndarray  # ascending
    fmrs: np.ndarray  # the FMR at each score: descending, in (0, 1]
    impostor_pairs: int
    model_name: str
    model_sha256: str
    provenance: dict[str, Any] = field(default_factory=dict)
    fmr_lower: np.ndarray | None = None
    fmr_upper: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.fmr_lower is None or self.fmr_upper is None:
            lower, upper = binomial_interval(np.round(self.fmrs * self.impostor_pairs), self.pairs)
            object.__setattr__(self, "fmr_lower", lower)
            object.__setattr__(self, "fmr_upper", upper)

    @property
    def pairs(self) -> int:
        return self.impostor_pairs

    @functools.cached_property
    def floor(self) -> float:
        """The smallest FMR the data can vouch for: the upper bound where no impostor pair
        scored as high (about 3.7 / pairs). Kept once computed: every candidate asks."""
        return float(binomial_interval(np.zeros(1), self.pairs)[1][0])

    def _curve(self, estimate: Estimate) -> tuple[np.ndarray, float]:
        """The FMRs of one estimate at the table's scores, and its value above them."""
        if estimate == "point":
            return self.fmrs, 1.0 / self.pairs
        assert self.fmr_lower is not None and self.fmr_upper is not None  # see __post_init__
        if estimate == "lower":
            return self.fmr_lower, 0.0
        return self.fmr_upper, self.floor

    def fmr_for(self, score: float | np.ndarray, estimate: Estimate = "upper") -> Any:
        """Estimated FMR at `score` (vectorised): by default the upper end of its interval."""
        curve, beyond = self._curve(estimate)
        with np.errstate(divide="ignore"):
            log_curve = np.log10(np.maximum(curve, 1e-300))
            right = np.log10(beyond) if beyond > 0 else -300.0
        log_fmr = np.interp(score, self.scores, log_curve, left=0.0, right=right)
        result = np.where(np.asarray(log_fmr) <= -300.0, 0.0, np.power(10.0, log_fmr))
        return float(result) if np.ndim(result) == 0 else result

    def interval(self, score: float) -> tuple[float, float, float]:
        """(lower, point, upper) estimates of the FMR at `score`."""
        return (
            float(self.fmr_for(score, "lower")),
            float(self.fmr_for(score, "point")),
            float(self.fmr_for(score, "upper")),
        )

    def resolves(self, fmr: float) -> bool:
        """Whether the data can vouch for an FMR this small (its upper bound reaches it)."""
        return self.floor <= fmr <= 1.0

    def threshold_for(self, fmr: float, estimate: Estimate = "upper") -> float:
        """The score at which the estimated FMR is `fmr` (so scores ≥ it are rarer); by
        default where the upper end of the interval is `fmr`."""
        curve, beyond = self._curve(estimate)
        if not max(beyond, 1e-300) <= fmr <= 1.0:
            raise ValueError(
                f"FMR {fmr} is outside what this calibration resolves [{beyond:.2g}, 1] "
                f"({self.pairs:,} different-person pairs)"
            )
        # The curve descends, so interpolate on the reversed (ascending) arrays.
        log_curve = np.log10(np.maximum(curve, 1e-300))
        return float(np.interp(np.log10(fmr), log_curve[::-1], self.scores[::-1]))

    def to_json(self) -> dict[str, Any]:
        lower, upper = self._curve("lower")[0], self._curve("upper")[0]
        return {
            "model_name": self.model_name,
            "model_sha256": self.model_sha256,
            "impostor_pairs": self.impostor_pairs,
            "provenance": self.provenance,
            "table_columns": ["score", "fmr", "fmr_lower", "fmr_upper"],
            "table": [
                [round(float(s), 7), *(float(f"{v:.6g}") for v in values)]
                for s, *values in zip(self.scores, self.fmrs, lower, upper, strict=True)
            ],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Calibration:
        table = np.asarray(data["table"], dtype=np.float64)
        bounds = table.shape[1] >= 4  # older files: binomial bounds from the pair count
        return cls(
            scores=table[:, 0],
            fmrs=table[:, 1],
            impostor_pairs=int(data["impostor_pairs"]),
            model_name=data["model_name"],
            model_sha256=data["model_sha256"],
            provenance=dict(data.get("provenance", {})),
            fmr_lower=table[:, 2] if bounds else None,
            fmr_upper=table[:, 3] if bounds else None,
        )

    def save(self, path: Path) -> None:
        """Write atomically: a reader never sees half a file, a crash never leaves one."""
        partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
        partial.write_text(json.dumps(self.to_json(), indent=1))
        os.replace(partial, path)

    @classmethod
    def load(cls, path: Path) -> Calibration:
        return cls.from_json(json.loads(path.read_text()))


# File name suffix of calibrations for small probe faces against low-resolution templates.
LOW_RES = ".low-res"


# What a calibration is bound to besides the embedder: which faces are found and how they are
# aligned change the scores of different people (the embedder's hash is checked on loading).
PIPELINE_KEYS = ("landmarks_sha256", "detector", "detector_sha256", "min_face_px")


def pipeline_differences(calibration: Calibration, pipeline: dict[str, Any]) -> list[str]:
    """How the pipeline a calibration was measured with differs from `pipeline`, in words
    ("detector dlib_hog, here dlib_mmod"); empty when it matches or was not recorded."""
    measured = calibration.provenance.get("pipeline")
    if not measured:
        return []
    return [
        f"{key} {measured.get(key)}, here {pipeline.get(key)}"
        for key in PIPELINE_KEYS
        if measured.get(key) != pipeline.get(key)
    ]


def bundled_calibration(
    model_name: str,
    model_sha256: str,
    low_res: bool = False,
    pipeline: dict[str, Any] | None = None,
) -> Calibration | None:
    """The calibration shipped with facesift for this exact model file, if there is one;
    `low_res`: the one for small probe faces against low-resolution templates.

    Calibrations for other pipelines (detector, smallest face) ship beside the default as
    `<model>[.low-res]@<name>.calibration.json`; given `pipeline` (FaceEngine.describe()), the
    one measured with it is chosen, else the default (facesift.match.policy flags the
    difference on every result)."""
    shipped = [c for c in _shipped(model_name, low_res) if c.model_sha256 == model_sha256]
    if pipeline is not None:
        for calibration in shipped:
            if not pipeline_differences(calibration, pipeline):
                return calibration
    return shipped[0] if shipped else None


@functools.cache
def _shipped(model_name: str, low_res: bool) -> tuple[Calibration, ...]:
    """The shipped calibrations of a model, the default first."""
    stem = f"{model_name}{LOW_RES if low_res else ''}"
    folder = resources.files("facesift.match") / "data"
    names = sorted(
        entry.name
        for entry in folder.iterdir()
        if entry.name == f"{stem}.calibration.json"
        or (entry.name.startswith(f"{stem}@") and entry.name.endswith(".calibration.json"))
    )
    names.sort(key=lambda name: "@" in name)  # the default first
    return tuple(Calibration.from_json(json.loads((folder / name).read_text())) for name in names)


def fit_calibration(
    impostor_scores: np.ndarray,
    model_name: str,
    model_sha256: str,
    provenance: dict[str, Any] | None = None,
    points: int = 240,
    units: np.ndarray | None = None,
    seed: int = 0,
) -> Calibration:
    """The FMR table of `impostor_scores`, at `points` FMRs log-spaced from 1 to 1/pairs.

    `units` (pairs × 2 integers) names the person, or photo, on each side of every pair: the
    interval is then bootstrapped over them (see the module's docstring); without it it is
    binomial, which is right only when pairs are independent.
    """
    scores_in = np.asarray(impostor_scores, dtype=np.float64)
    order = np.argsort(scores_in, kind="stable")
    ordered = scores_in[order]
    pairs = len(ordered)
    if pairs < 100:
        raise ValueError(f"{pairs} impostor pairs are too few to calibrate (need at least 100)")
    counts = np.unique(np.round(np.logspace(0, np.log10(pairs), points)).astype(np.int64))
    # For k pairs at or above a score: that score is the k-th largest impostor score.
    scores = ordered[pairs - counts][::-1]
    fmrs = (counts / pairs)[::-1]
    scores, keep = np.unique(scores, return_index=True)  # strictly ascending for interpolation
    fmrs = fmrs[keep]
    lower, upper = binomial_interval(np.round(fmrs * pairs), pairs)
    if units is not None:
        boot_lower, boot_upper = _bootstrap_interval(
            scores_in, np.asarray(units), scores, fmrs, seed
        )
        lower, upper = np.fmin(lower, boot_lower), np.fmax(upper, boot_upper)
    # Each bound, like the FMR itself, can only fall as the score rises.
    upper = np.maximum.accumulate(upper[::-1])[::-1]
    lower = np.minimum.accumulate(lower)
    return Calibration(
        scores, fmrs, pairs, model_name, model_sha256, dict(provenance or {}), lower, upper
    )


def _bootstrap_interval(
    scores: np.ndarray, units: np.ndarray, grid: np.ndarray, fmrs: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """The FMR interval at each `grid` score when whole units (people, photos) are resampled;
    NaN where the FMR exceeds BOOTSTRAP_FMR (the binomial interval is used there).

    Each unit gets a Poisson(1) weight per replicate; a pair between units a and b weighs
    w_a·w_b (a pair within one unit, e.g. two faces of one photo, weighs w_a). Only pairs in
    the tail are counted, per pair of units, so memory follows the tail, not all pairs.
    """
    if units.shape != (len(scores), 2):
        raise ValueError("units must name the two sides of every pair")
    _, flat = np.unique(units, return_inverse=True)
    sides = flat.reshape(-1, 2)
    n_units = int(flat.max()) + 1
    a, b = sides.min(axis=1), sides.max(axis=1)
    unit_pairs, which = np.unique(a * n_units + b, return_inverse=True)
    ua, ub = unit_pairs // n_units, unit_pairs % n_units
    totals = np.bincount(which, minlength=len(unit_pairs)).astype(np.float64)
    # At most 48 grid scores of the tail carry the bootstrap; bounds in between are
    # interpolated in log FMR.
    tail_points = np.flatnonzero(fmrs <= BOOTSTRAP_FMR)
    lower = np.full(len(grid), np.nan)
    upper = np.full(len(grid), np.nan)
    if len(tail_points) < 2:
        return lower, upper
    coarse = tail_points[
        np.unique(
            np.linspace(0, len(tail_points) - 1, min(len(tail_points), 48)).round().astype(int)
        )
    ]
    in_tail = scores >= grid[coarse[0]]
    level = np.searchsorted(grid[coarse], scores[in_tail], side="right") - 1
    counts = sparse.coo_matrix(
        (np.ones(len(level)), (level, which[in_tail])), shape=(len(coarse), len(unit_pairs))
    ).tocsr()
    rng = np.random.default_rng(seed)
    rates = []
    for _ in range(0, BOOTSTRAP_REPLICATES, 20):  # 20 replicates at a time bound memory
        weights = rng.poisson(1.0, size=(20, n_units)).astype(np.float64)
        pair_weights = np.where(ua == ub, weights[:, ua], weights[:, ua] * weights[:, ub])
        at_least = np.cumsum(np.asarray(counts @ pair_weights.T)[::-1], axis=0)[::-1]
        with np.errstate(invalid="ignore", divide="ignore"):
            rates.append(at_least / (pair_weights @ totals)[None, :])
    rate = np.concatenate(rates, axis=1)
    rate = rate[:, np.isfinite(rate).all(axis=0)]
    tail = (1.0 - CONFIDENCE) / 2
    span = slice(coarse[0], coarse[-1] + 1)
    for q, out in ((tail, lower), (1 - tail, upper)):
        at_coarse = np.log10(np.maximum(np.quantile(rate, q, axis=1), 1e-300))
        out[span] = np.power(10.0, np.interp(grid[span], grid[coarse], at_coarse))
    return lower, upper


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


def cross_impostor_units(probe_labels: list[str], gallery_labels: list[str]) -> np.ndarray:
    """The (probe identity, gallery identity) of each pair cross_impostor_scores returns, in
    its order, as integers: the units its calibration's interval resamples."""
    _, ids = np.unique(np.r_[probe_labels, gallery_labels], return_inverse=True)
    probe_ids, gallery_ids = ids[: len(probe_labels)], ids[len(probe_labels) :]
    out = []
    for start in range(0, len(probe_ids), 1024):
        rows = probe_ids[start : start + 1024]
        other = rows[:, None] != gallery_ids[None, :]
        r, c = np.nonzero(other)
        out.append(np.stack([rows[r], gallery_ids[c]], axis=1))
    return np.concatenate(out) if out else np.zeros((0, 2), np.int64)


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


@dataclass(frozen=True)
class ImpostorPairs:
    """Scores of comparisons known to be of different people, from one source, with the units
    (people or photos) on each side of every pair, which the interval resamples."""

    source: str  # "gallery", "co-occurrence", "reference"
    scores: np.ndarray
    units: np.ndarray  # pairs × 2, ids unique within the source
    unit_count: int
    unit_kind: str  # what a unit is: "people", "photos and videos"

    def describe(self) -> dict[str, Any]:
        return {"pairs": len(self.scores), "units": self.unit_count, "unit_kind": self.unit_kind}


def pool_pairs(sources: list[ImpostorPairs]) -> tuple[np.ndarray, np.ndarray]:
    """All sources' scores and units in one array, units renumbered so they never collide."""
    scores, units, offset = [], [], 0
    for source in sources:
        scores.append(source.scores)
        units.append(source.units + offset)
        offset += int(source.units.max()) + 1 if len(source.units) else 0
    if not scores:
        return np.zeros(0, np.float32), np.zeros((0, 2), np.int64)
    return np.concatenate(scores), np.concatenate(units)


def labelled_impostor_pairs(
    vectors: np.ndarray, labels: np.ndarray, source: str, chunk: int = 1024
) -> ImpostorPairs:
    """Every pair of vectors with different labels (one label per person), units = labels."""
    unit = l2_normalize(np.asarray(vectors, np.float32))
    _, ids = np.unique(np.asarray(labels), return_inverse=True)
    scores, left, right = [], [], []
    for start in range(0, len(unit), chunk):
        block = unit[start : start + chunk] @ unit.T
        rows, cols = np.nonzero(
            (np.arange(len(unit))[None, :] > np.arange(start, start + len(block))[:, None])
            & (ids[start : start + len(block), None] != ids[None, :])
        )
        scores.append(block[rows, cols])
        left.append(ids[rows + start])
        right.append(ids[cols])
    if not scores:
        return ImpostorPairs(source, np.zeros(0, np.float32), np.zeros((0, 2), np.int64), 0, "")
    return ImpostorPairs(
        source,
        np.concatenate(scores),
        np.stack([np.concatenate(left), np.concatenate(right)], axis=1),
        int(ids.max()) + 1 if len(ids) else 0,
        "people",
    )


@dataclass(frozen=True)
class SeenTogether:
    """A face (or a video track) seen in one picture with others: `key` names the person it
    shows (a face id, or a track), `vector` its embedding or track template."""

    picture: tuple[int, int]  # (media id, frame index)
    key: tuple[str, int]
    vector: np.ndarray
    box: tuple[float, float, float, float]


def cooccurrence_pairs(items: list[SeenTogether]) -> ImpostorPairs:
    """Pairs of faces seen in the same photo or video frame: different people (one person is
    not twice in one picture), in the case's own population and imaging conditions.

    Pairs of one track, and faces whose boxes overlap (a double detection, a reflection), are
    left out; a pair of video tracks seen together in many frames counts once (its templates).
    Units are the media, which the interval resamples.
    """
    pictures: dict[tuple[int, int], list[SeenTogether]] = {}
    for item in items:
        pictures.setdefault(item.picture, []).append(item)
    seen: dict[tuple[tuple[str, int], tuple[str, int]], tuple[float, int]] = {}
    for (media_id, _), group in pictures.items():
        for i, a in enumerate(group):
            for b in group[i + 1 :]:
                if a.key == b.key or _overlap(a.box, b.box):
                    continue
                pair = (a.key, b.key) if a.key <= b.key else (b.key, a.key)
                if pair not in seen:
                    score = float(l2_normalize(np.stack([a.vector, b.vector])).prod(axis=0).sum())
                    seen[pair] = (score, media_id)
    scores = np.array([s for s, _ in seen.values()], np.float32)
    media = np.array([m for _, m in seen.values()], np.int64)
    return ImpostorPairs(
        "co-occurrence",
        scores,
        np.stack([media, media], axis=1) if len(media) else np.zeros((0, 2), np.int64),
        len(set(media.tolist())),
        "photos and videos",
    )


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return min(a[2], b[2]) > max(a[0], b[0]) and min(a[3], b[3]) > max(a[1], b[1])
