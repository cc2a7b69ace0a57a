"""Evaluation plots (PNG): ROC, DET and score histograms for verification; CMC and DET for 1:N."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib

matplotlib.use("Agg")  # files only, no display needed
import matplotlib.pyplot as plt
import numpy as np

from facesift.match import metrics
from facesift.reports.output import write_output

if TYPE_CHECKING:
    from facesift.workflows.evaluate import VerificationReport
    from facesift.workflows.evaluate_search import IdentificationReport


def verification_report_plot(
    report: VerificationReport,
    default_threshold: float,
    label: str,
    out: Path,
    *,
    force: bool = False,
) -> None:
    """ROC, DET and histograms of an `eval verify` run, with the default threshold and the
    calibrated FMR 1e-3 score marked; `label` names the pair file or dataset."""
    marks = {"default threshold": default_threshold}
    if report.calibrated_threshold is not None:
        marks["FMR 1e-3"] = report.calibrated_threshold
    title = f"{label}: {report.pairs} pairs"
    verification_plot(report.scores, report.same, marks, title, out, force=force)


def identification_report_plot(
    report: IdentificationReport, label: str, out: Path, *, force: bool = False
) -> None:
    """CMC and DET of an `eval identify` run; `label` names the dataset."""
    title = (
        f"{label}: {report.gallery} enrolled, {report.mated} mated, {report.non_mated} non-mated"
    )
    identification_plot(report.cmc, *report.det, title, out, force=force)


def verification_plot(
    scores: np.ndarray,
    same: np.ndarray,
    thresholds: dict[str, float],
    title: str,
    out: Path,
    *,
    force: bool = False,
) -> None:
    """Three panels for 1:1 scores: ROC, DET, and the two score distributions with
    `thresholds` (name → score) drawn across them."""
    found = ~np.isnan(scores)
    genuine, impostor = scores[found & same], scores[found & ~same]
    _, far, tar = metrics.roc(genuine, impostor)
    figure, (roc_axis, det_axis, hist_axis) = plt.subplots(1, 3, figsize=(16, 4.8))
    # Rates of zero cannot sit on a log axis: plot what the pairs resolve (FAR ≥ 1/impostors).
    resolved = far > 0
    roc_axis.semilogx(far[resolved], tar[resolved], drawstyle="steps-post")
    roc_axis.set(xlabel="false match rate (log)", ylabel="true match rate", title="ROC")
    roc_axis.set_xlim(1 / max(len(impostor), 1), 1)
    roc_axis.grid(True, which="both", alpha=0.3)
    det = resolved & (tar < 1)
    det_axis.loglog(far[det], 1 - tar[det], drawstyle="steps-post")
    det_axis.set(xlabel="false match rate", ylabel="false non-match rate", title="DET")
    det_axis.set_xlim(1 / max(len(impostor), 1), 1)
    det_axis.grid(True, which="both", alpha=0.3)
    bins = np.linspace(min(genuine.min(initial=1), impostor.min(initial=1)), 1.0, 80)
    hist_axis.hist(
        impostor, bins=bins, alpha=0.6, density=True, label=f"different people ({len(impostor)})"
    )
    hist_axis.hist(
        genuine, bins=bins, alpha=0.6, density=True, label=f"same person ({len(genuine)})"
    )
    for k, (name, value) in enumerate(thresholds.items()):
        hist_axis.axvline(value, color=f"C{k + 2}", linestyle="--", label=f"{name} {value:.3f}")
    hist_axis.set(xlabel="score (cosine similarity)", ylabel="density", title="Score distributions")
    hist_axis.legend(fontsize=8)
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, out, force)


def identification_plot(
    cmc: list[float],
    fpir: np.ndarray,
    fnir: np.ndarray,
    title: str,
    out: Path,
    *,
    force: bool = False,
) -> None:
    """Two panels for 1:N search: the CMC curve and the open-set DET (FNIR against FPIR)."""
    figure, (cmc_axis, det_axis) = plt.subplots(1, 2, figsize=(11, 4.8))
    ranks = np.arange(1, len(cmc) + 1)
    cmc_axis.plot(ranks, cmc, marker="o")
    cmc_axis.set(xlabel="rank", ylabel="identification rate", title="CMC", xticks=ranks[::2])
    cmc_axis.grid(True, alpha=0.3)
    shown = (fpir > 0) & (fnir > 0)
    det_axis.loglog(fpir[shown], fnir[shown], drawstyle="steps-post")
    det_axis.set(
        xlabel="false positive identification rate", ylabel="false negative identification rate"
    )
    det_axis.set_title("DET (open-set, rank 1)")
    det_axis.grid(True, which="both", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    _save(figure, out, force)


def _save(figure: Any, out: Path, force: bool) -> None:
    """Write the figure as a new PNG file (an existing file only with `force`)."""
    try:
        write_output(out, lambda temporary: figure.savefig(temporary, dpi=110, format="png"),
                     force=force)  # fmt: skip
    finally:
        plt.close(figure)
