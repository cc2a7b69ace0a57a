"""Per-group evaluation: how error rates differ between groups of people (demographics,
imaging sources …), from a file that assigns each identity to a group.

Face recognition is less accurate for some groups than others (NIST, NISTIR 8280); with
facesift's bundled model the differential is large. A false-match rate measured on one
group says little about another: these reports show how much, per group, at the workspace's
decision threshold and at the score its calibration calls FMR 1e-3.

Verification counts every pair of the evaluated photos: different-person pairs within one
group (a group's false matches are among its own people, as in a search of a gallery of that
population), and same-person pairs of its identities.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import FacesiftError
from facesift.match.calibration import genuine_scores, impostor_scores
from facesift.match.policy import DecisionPolicy
from facesift.workflows.evaluate import EmbeddedPhotos
from facesift.workflows.evaluate_search import IdentificationReport

# Identities the groups file does not list.
UNLISTED = "unlisted"


def read_groups(path: Path) -> dict[str, str]:
    """identity → group from a CSV with the columns `identity` (or `name`) and `group`."""
    try:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            rows = list(csv.DictReader(handle))
    except (OSError, UnicodeDecodeError) as exc:
        raise FacesiftError(f"{path}: cannot read the groups file ({exc})") from None
    if not rows or "group" not in rows[0] or not ({"identity", "name"} & set(rows[0])):
        raise FacesiftError(f"{path}: a groups file needs the columns identity and group")
    out = {}
    for row in rows:
        identity = (row.get("identity") or row.get("name") or "").strip()
        if identity:
            out[identity] = (row.get("group") or "").strip() or UNLISTED
    return out


@dataclass(frozen=True)
class GroupVerification:
    """Error rates within one group of people."""

    group: str
    identities: int
    photos: int
    impostor_pairs: int
    genuine_pairs: int
    fmr_at_threshold: float | None
    fmr_at_calibrated_1e3: float | None
    tar_at_threshold: float | None
    median_impostor_score: float | None
    score_at_true_fmr_1e3: float | None  # the group's own FMR 1e-3 score, where resolved
    tar_at_true_fmr_1e3: float | None

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(v) for k, v in self.__dict__.items()}


def group_verification(
    vectors: np.ndarray,
    labels: list[str],
    groups: dict[str, str],
    threshold: float,
    calibrated_1e3: float | None,
) -> list[GroupVerification]:
    """Per group (and "all"): FMR among its different-person pairs at `threshold` and at the
    calibration's FMR 1e-3 score, TAR among its same-person pairs, and the group's own
    FMR 1e-3 score with the TAR there."""
    found = ~np.isnan(vectors).any(axis=1)
    vectors = vectors[found]
    labels = [label for label, ok in zip(labels, found, strict=True) if ok]
    of = np.array([groups.get(label, UNLISTED) for label in labels])
    out = []
    for group in ["all", *sorted(set(of.tolist()))]:
        members = np.ones(len(labels), bool) if group == "all" else of == group
        chosen = [label for label, keep in zip(labels, members, strict=True) if keep]
        impostors = impostor_scores(vectors[members], chosen)
        genuine = genuine_scores(vectors[members], chosen)
        own_1e3 = _score_at_fmr(impostors, 1e-3)
        out.append(
            GroupVerification(
                group=group,
                identities=len(set(chosen)),
                photos=int(members.sum()),
                impostor_pairs=len(impostors),
                genuine_pairs=len(genuine),
                fmr_at_threshold=_rate(impostors, threshold),
                fmr_at_calibrated_1e3=None
                if calibrated_1e3 is None
                else _rate(impostors, calibrated_1e3),
                tar_at_threshold=_rate(genuine, threshold),
                median_impostor_score=float(np.median(impostors)) if len(impostors) else None,
                score_at_true_fmr_1e3=own_1e3,
                tar_at_true_fmr_1e3=None if own_1e3 is None else _rate(genuine, own_1e3),
            )
        )
    return out


@dataclass(frozen=True)
class GroupIdentification:
    """Open-set search results for one group's probes."""

    group: str
    mated: int
    non_mated: int
    rank1: float | None
    fnir_at_threshold: float | None  # mated searches not found at rank 1 at the threshold
    fpir_at_threshold: float | None  # non-mated searches with a candidate at the threshold

    def to_dict(self) -> dict[str, Any]:
        return {k: _round(v) for k, v in self.__dict__.items()}


def group_identification(
    mated_labels: list[str],
    ranks: np.ndarray,
    mate_scores: np.ndarray,
    non_mated_labels: list[str],
    non_mated_top: np.ndarray,
    groups: dict[str, str],
    threshold: float,
) -> list[GroupIdentification]:
    """Rank-1, FNIR and FPIR at `threshold` per group of the probes' identities (and "all");
    a mated probe without a face counts as a miss (rank beyond the gallery)."""
    mated_of = np.array([groups.get(label, UNLISTED) for label in mated_labels])
    other_of = np.array([groups.get(label, UNLISTED) for label in non_mated_labels])
    out = []
    for group in ["all", *sorted(set(mated_of.tolist()) | set(other_of.tolist()))]:
        m = np.ones(len(mated_of), bool) if group == "all" else mated_of == group
        o = np.ones(len(other_of), bool) if group == "all" else other_of == group
        hit = (ranks[m] == 1) & (mate_scores[m] >= threshold)
        out.append(
            GroupIdentification(
                group=group,
                mated=int(m.sum()),
                non_mated=int(o.sum()),
                rank1=float(np.mean(ranks[m] == 1)) if m.any() else None,
                fnir_at_threshold=float(1 - hit.mean()) if m.any() else None,
                fpir_at_threshold=float(np.mean(non_mated_top[o] >= threshold))
                if o.any()
                else None,
            )
        )
    return out


def verification_by_group(
    embedded: EmbeddedPhotos, groups: dict[str, str], policy: DecisionPolicy
) -> dict[str, Any]:
    """`eval verify --groups`: per-group rates of the embedded photos (identity = folder name)
    at the policy's threshold and calibrated FMR 1e-3 score, and the differentials."""
    calibrated = policy.threshold_for(1e-3) if policy.calibrated else None
    rows = group_verification(
        embedded.vectors, [p.parent.name for p in embedded.paths], groups,
        policy.threshold, calibrated,
    )  # fmt: skip
    return {
        "threshold": round(policy.threshold, 4),
        "calibrated_fmr_1e-3_score": None if calibrated is None else round(calibrated, 4),
        "calibration": policy.source,
        "rows": [r.to_dict() for r in rows],
        "fmr_differential_at_threshold": differential(rows, "fmr_at_threshold"),
        "fmr_differential_at_calibrated_1e-3": differential(rows, "fmr_at_calibrated_1e3"),
        "pairs": "all pairs of the evaluated photos within each group",
    }


def identification_by_group(
    report: IdentificationReport, groups: dict[str, str], threshold: float
) -> dict[str, Any]:
    """`eval identify --groups`: rank-1, FNIR and FPIR at `threshold` per group of the probes'
    identities, and the differentials."""
    rows = group_identification(
        report.mated_labels, report.ranks, report.mate_scores, report.non_mated_labels,
        report.non_mated_top, groups, threshold,
    )  # fmt: skip
    return {
        "threshold": round(threshold, 4),
        "rows": [r.to_dict() for r in rows],
        "fpir_differential_at_threshold": differential(rows, "fpir_at_threshold"),
        "fnir_differential_at_threshold": differential(rows, "fnir_at_threshold"),
    }


def differential(rows: list[Any], field: str) -> float | None:
    """The largest ratio of `field` between two groups (listed groups, not "all")."""
    values = [
        getattr(r, field)
        for r in rows
        if r.group != "all" and getattr(r, field) is not None and getattr(r, field) > 0
    ]
    return None if len(values) < 2 else max(values) / min(values)


def _rate(scores: np.ndarray, threshold: float) -> float | None:
    return float(np.mean(scores >= threshold)) if len(scores) else None


def _score_at_fmr(impostors: np.ndarray, fmr: float) -> float | None:
    """The score that exactly `fmr` of these pairs reach (None if too few pairs: < 10 / fmr)."""
    if len(impostors) < 10 / fmr:
        return None
    k = round(fmr * len(impostors))
    return float(np.sort(impostors)[len(impostors) - k])


def _round(value: Any) -> Any:
    return round(value, 6) if isinstance(value, float) else value
