"""The decision policy: which calibration is in force, the threshold it gives, what a score means.

A false-match rate holds only for the population it was measured on. The shipped calibration
was measured on LFW's mostly Western press photos; a workspace also holds pairs of faces known
to be of different people in its own population (its gallery's different people, faces seen
together in one photo or frame; see facesift.workflows.calibration). Where those pairs show
the baseline calibration (the shipped one, or a reference set the user fitted) understating
false matches by more than MISMATCH_FACTOR at FMR 1e-3 — even at the low end of their
interval — the workspace's own calibration is used and every result says so. Where it only
seems lower, the baseline stays: estimates err towards more false matches, never fewer.

Thresholds are FMR targets: the decision threshold and the bands are FMRs, turned into scores
by the calibration in force (its conservative, upper estimate).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from facesift.match.calibration import STRONG_FMR, Calibration, band, pipeline_differences
from facesift.match.decision import DEFAULT_THRESHOLD
from facesift.vision.lowres import LOW_RES_PROBE_PX

# The shipped calibration is taken as understating false matches when the workspace's own
# pairs show at least this many times its FMR at its FMR 1e-3 score (low end of the interval).
MISMATCH_FACTOR = 3.0
CHECK_FMR = STRONG_FMR


# What a 1:1 score supports, by band: the wording never says more than the band. Even a
# "strong" score is not proof: the FMR is measured over random pairs of different people,
# and look-alikes score far higher (LFW's Jennifer Lopez and Angelina Jolie: 15 of their 56
# photo pairs score in the strong band; tests/test_verdicts.py). A "possible" score is met by
# different people several times in a thousand comparisons.
VERDICTS = {
    "strong": "strong match: rare between different people; a lead to confirm, not proof",
    "possible": "possible match: different people score this high several times in a "
    "thousand comparisons; review",
    "weak": "not supported: different people often score this high",
    "uncalibrated": "no verdict: the score is not calibrated",
}


def verdict(band: str) -> str:
    """The finding a band supports, in words (VERDICTS)."""
    return VERDICTS[band]


def uses_low_res_templates(face_px: float) -> bool:
    """Whether a probe face this wide is matched against the gallery's low-resolution
    templates (and judged by their calibration): the routing rule of every 1:N search."""
    return face_px < LOW_RES_PROBE_PX


@dataclass(frozen=True)
class PopulationCheck:
    """The workspace's own different-person pairs at the score the baseline calls CHECK_FMR."""

    baseline_score: float
    lower: float
    point: float
    upper: float
    pairs: int
    units: int

    @property
    def factor(self) -> float:
        return self.point / CHECK_FMR

    @property
    def mismatch(self) -> bool:
        return self.lower > MISMATCH_FACTOR * CHECK_FMR

    def to_dict(self) -> dict[str, Any]:
        return {
            "baseline_fmr": CHECK_FMR,
            "baseline_score": round(self.baseline_score, 4),
            "local_fmr": _sig(self.point),
            "local_fmr_interval": [_sig(self.lower), _sig(self.upper)],
            "factor": round(self.factor, 2),
            "mismatch": self.mismatch,
            "pairs": self.pairs,
            "units": self.units,
        }


@dataclass(frozen=True)
class DecisionPolicy:
    """Threshold, calibration(s) and the FMR and band of a score, for one workspace or case.

    `baseline`: the shipped calibration or the workspace's reference fit; `local`: the fit on
    the workspace's own pairs; `low_res`: the baseline's for small probe faces matched against
    low-resolution templates. `fixed_threshold` (a raw score) overrides `decision_fmr`.
    """

    decision_fmr: float
    baseline: Calibration | None = None
    local: Calibration | None = None
    low_res: Calibration | None = None
    fixed_threshold: float | None = None
    uncalibrated_threshold: float = DEFAULT_THRESHOLD
    baseline_kind: str = "shipped"  # or "reference"
    scope: str = "workspace"
    notes: tuple[str, ...] = field(default_factory=tuple)
    # The pipeline that makes the scores judged (FaceEngine.describe()): a calibration
    # measured with another detector or smallest face is flagged on every result.
    pipeline: dict[str, Any] | None = None

    @functools.cached_property
    def check(self) -> PopulationCheck | None:
        if self.baseline is None or self.local is None:
            return None
        score = self.baseline.threshold_for(max(CHECK_FMR, self.baseline.floor))
        lower, point, upper = self.local.interval(score)
        units = int(self.local.provenance.get("units", 0))
        return PopulationCheck(score, lower, point, upper, self.local.pairs, units)

    @property
    def active(self) -> Calibration | None:
        """The calibration FMRs and thresholds come from."""
        if self.baseline is None:
            return self.local
        if self.check is not None and self.check.mismatch:
            return self.local
        return self.baseline

    @property
    def source(self) -> str | None:
        """ "shipped", "reference", "local" or None (uncalibrated)."""
        active = self.active
        if active is None:
            return None
        return "local" if active is self.local else self.baseline_kind

    @property
    def calibrated(self) -> bool:
        return self.active is not None

    def threshold_for(self, fmr: float) -> float:
        """The score at which the FMR in force (its upper estimate) is `fmr`; where the data
        cannot vouch for so small an FMR, the score at the smallest one it can."""
        active = self.active
        if active is None:
            raise ValueError("no calibration: fit one with `facesift calibrate` or enrol people")
        return active.threshold_for(min(max(fmr, active.floor), 1.0))

    @functools.cached_property
    def threshold(self) -> float:
        """The decision threshold (score) for `above_threshold` and `same_person`."""
        if self.fixed_threshold is not None:
            return self.fixed_threshold
        if self.active is None:
            return self.uncalibrated_threshold
        return self.threshold_for(self.decision_fmr)

    def fmr_for(self, score: float, low_res: bool = False) -> float | None:
        """Estimated FMR of a score (upper estimate); None when uncalibrated.

        Small probes are judged by the low-resolution calibration; where the workspace's own
        population was found to score higher than the baseline's, by at least its own
        standard estimate as well, since the low-resolution one was not measured there.
        """
        active = self.active
        if active is None:
            return None
        standard = float(active.fmr_for(score))
        if not low_res or self.low_res is None:
            return standard
        low = float(self.low_res.fmr_for(score))
        return max(low, standard) if self.source == "local" else low

    def evidence(self, score: float, low_res: bool = False) -> tuple[float | None, str]:
        """(estimated FMR, band) of a score, or (None, "uncalibrated")."""
        fmr = self.fmr_for(score, low_res)
        return (None, "uncalibrated") if fmr is None else (fmr, band(fmr))

    def is_bound(self, fmr: float | None, low_res: bool = False) -> bool:
        """Whether `fmr` is only a bound: no different-person pair of the calibration scored
        as high, so the data says "below this" and nothing more precise."""
        calibrations = [self.active] + ([self.low_res] if low_res else [])
        floors = [c.floor for c in calibrations if c is not None]
        return fmr is not None and bool(floors) and fmr <= max(floors) * (1 + 1e-9)

    @functools.cached_property
    def low_res_threshold(self) -> float:
        """The score at which a small probe's match is as rare among different people as a
        standard match at the decision threshold (the threshold itself when uncalibrated)."""
        active, low_res = self.active, self.low_res
        if active is None or low_res is None:
            return self.threshold
        fmr = float(active.fmr_for(self.threshold))
        score = low_res.threshold_for(min(max(fmr, low_res.floor), 1.0))
        return max(score, self.threshold) if self.source == "local" else score

    @functools.cached_property
    def warnings(self) -> list[str]:
        """What a reader must know before trusting the FMRs: shown with every result."""
        out: list[str] = []
        check, active = self.check, self.active
        if check is not None and check.mismatch:
            out.append(
                f"population mismatch: {check.point:.1%} of this {self.scope}'s own "
                f"different-person pairs score {check.baseline_score:.3f} or more (95% interval "
                f"{check.lower:.1%}–{check.upper:.1%}; {check.pairs:,} pairs, {check.units} "
                f"people or photos), where the {self.baseline_kind} calibration expects "
                f"{CHECK_FMR:.1e}: {check.factor:.0f}× more false matches. FMRs and bands here "
                "come from this workspace's own pairs"
            )
            if self.low_res is not None:
                out.append(
                    "small faces (matched against low-resolution templates) have no calibration "
                    "measured on this population: their FMR is the larger of the shipped "
                    "low-resolution one and this workspace's own; fit one with "
                    "`facesift calibrate FOLDER` on labelled photos of this population"
                )
        if active is not None and not active.resolves(CHECK_FMR):
            out.append(
                f"too few different-person pairs ({active.pairs:,}) to vouch for FMR "
                f"{CHECK_FMR:.0e}: the smallest FMR this calibration supports is "
                f"{active.floor:.1e}, so no candidate can be 'strong'; enrol more people or add "
                "labelled photos of this population with `facesift calibrate FOLDER`"
            )
        if self.baseline is None and self.local is not None:
            out.append(
                "no calibration was measured for this model elsewhere: FMRs come only from "
                f"this workspace's own {self.local.pairs:,} different-person pairs"
            )
        out += self.pipeline_warnings()
        return out + list(self.notes)

    def pipeline_warnings(self) -> list[str]:
        """One warning per calibration in force that was measured with another pipeline."""
        if self.pipeline is None:
            return []
        out = []
        in_force = [("", self.active), ("low-resolution ", self.low_res)]
        for kind, calibration in in_force:
            differences = (
                [] if calibration is None else pipeline_differences(calibration, self.pipeline)
            )
            if differences:
                out.append(
                    f"the {kind}calibration in force was measured with another pipeline "
                    f"({'; '.join(differences)}): its FMRs were not measured for the faces "
                    "this one finds; fit one with `facesift calibrate FOLDER`"
                )
        return out

    def describe(self) -> dict[str, Any] | None:
        """Provenance of the FMRs for results: the calibration in force and the check."""
        active = self.active
        if active is None:
            return None
        out: dict[str, Any] = {
            "source": self.source,
            "scope": self.scope,
            **summary(active),
            "decision_fmr": self.decision_fmr if self.fixed_threshold is None else None,
            "estimate": "upper end of the 95% interval",
        }
        if self.check is not None:
            out["population_check"] = self.check.to_dict()
        if self.low_res is not None:
            out["low_res"] = {
                **summary(self.low_res),
                "threshold": round(self.low_res_threshold, 4),
            }
        return out


def summary(calibration: Calibration) -> dict[str, Any]:
    """A calibration's size, sources and thresholds at 1e-2 and 1e-3, for provenance."""
    out: dict[str, Any] = {
        "impostor_pairs": calibration.impostor_pairs,
        "model_sha256": calibration.model_sha256,
        **{k: v for k, v in calibration.provenance.items() if k != "pipeline"},
        "smallest_fmr": _sig(calibration.floor),
    }
    for fmr in (1e-2, 1e-3):
        key = f"threshold_fmr_{fmr:.0e}".replace("e-0", "e-")
        out[key] = round(calibration.threshold_for(fmr), 4) if calibration.resolves(fmr) else None
    return out


def _sig(value: float) -> float:
    return float(f"{value:.3g}")


def operating_points(calibration: Calibration) -> list[dict[str, Any]]:
    """At FMR 1e-2, 1e-3 and 1e-4 (where the data resolves them): the score, and the interval
    of the FMR there — what a reader needs to judge how far the calibration can be trusted."""
    out: list[dict[str, Any]] = []
    for fmr in (1e-2, 1e-3, 1e-4):
        if not calibration.resolves(fmr):
            out.append({"fmr": fmr, "score": None, "resolved": False})
            continue
        score = calibration.threshold_for(fmr)
        lower, point, upper = calibration.interval(score)
        out.append(
            {
                "fmr": fmr,
                "score": round(score, 4),
                "resolved": True,
                "point_fmr": _sig(point),
                "interval": [_sig(lower), _sig(upper)],
            }
        )
    return out
