"""What every interface says about a result: numbers as text, the wording of findings, summaries.

A web page, a printed report and the terminal must word the same evidence the same way (an
estimated false-match rate, a band, a verdict), so the phrases are made here, once. Each
function returns plain text; text that came from the user's files (names, paths) goes
through `text`, which the interface chooses (see reports.tables).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from facesift.match.calibration import Calibration
    from facesift.vision.quality import Quality
    from facesift.workflows.evaluate import VerificationReport
    from facesift.workflows.evaluate_search import IdentificationReport
    from facesift.workflows.results import (
        CalibrationStatus,
        Candidate,
        Decision,
        EvidenceFrame,
        ScanReport,
        Verification,
    )

UserText = Callable[[str], str]

# Failures listed after an evaluation; the JSON has them all.
SHOWN_FAILURES = 20


def as_is(text: str) -> str:
    """The `text` of an interface that escapes user text itself (or needs no escaping)."""
    return text


def fmr_text(fmr: float | None, bound: bool = False) -> str:
    """An estimated false-match rate as shown beside a score: "fmr ?" when uncalibrated,
    "fmr < x" when the calibration can only bound it."""
    if fmr is None:
        return "fmr ?"
    return f"fmr < {fmr:.1e}" if bound else f"fmr {fmr:.1e}"


def rate_text(value: float | None) -> str:
    """A measured rate: small ones in scientific notation, "–" when there was nothing to
    measure it on."""
    return "–" if value is None else f"{value:.2e}" if value < 0.01 else f"{value:.3f}"


def box_text(bbox: Iterable[float]) -> str:
    """A face box as whole pixels: x1, y1, x2, y2."""
    return ", ".join(f"{v:.0f}" for v in bbox)


def quality_text(quality: Quality) -> str:
    """A face's quality score, with what lowers it (small, blurry …)."""
    flags = ", ".join(quality.flags)
    return f"{quality.score:.2f}" + (f" ({flags})" if flags else "")


def candidate_text(candidate: Candidate, text: UserText = as_is) -> str:
    """One candidate: name, score, estimated FMR and band; `*` when above the threshold."""
    c = candidate
    return f"{text(c.person)}  {c.score:.3f}  {fmr_text(c.fmr, c.fmr_is_bound)} {c.band}" + (
        " *" if c.above_threshold else ""
    )


def candidates_text(candidates: Iterable[Candidate], text: UserText = as_is) -> str:
    """The ranked candidates of a face or track, one a line ("" when there are none)."""
    return "\n".join(candidate_text(c, text) for c in candidates)


def decision_caption(decision: Decision) -> str:
    """The threshold and how to read the scores: shown under every list of candidates."""
    return f"threshold {decision.threshold:.3f}; {decision.note}"


def verification_text(result: Verification) -> str:
    """The 1:1 finding: score, estimated FMR, band, whether it passes the threshold, and what
    the band supports (never more)."""
    passes = "above" if result.same_person else "below"
    return (
        f"score {result.score:.3f}, {fmr_text(result.fmr, result.fmr_is_bound)} "
        f"({result.band}); {passes} the threshold {result.decision.threshold:.3f}: "
        f"{result.verdict}"
    )


def scan_summary(report: ScanReport, text: UserText = as_is) -> str:
    """What a scan did, file by file counted, and how fast."""
    rate = report.faces / report.seconds if report.seconds else 0.0
    videos = (
        f" {report.video_seconds:.1f} s of video, {report.tracks} tracks;"
        if report.video_seconds
        else ""
    )
    archives = "".join(
        f" Web archive {text(a['path'])} (SHA-256 {a['sha256']}): {a['media']} photos and videos "
        f"from {a['pages']} pages; signature block "
        f"{'present (not verified)' if a['signed'] else 'absent'}."
        for a in report.archives
    )
    sources = f" {report.sources} source posts or captures recorded." if report.sources else ""
    missing = (
        f" {len(report.not_included)} media not included in the export (listed above)."
        if report.not_included
        else ""
    )
    return (
        f"{report.files} files: {report.processed} analysed, {report.already_stored} already "
        f"stored, {len(report.errors)} failed, {len(report.skipped)} not analysed "
        f"(listed above);{videos} {report.faces} faces found "
        f"in {report.seconds:.1f} s ({rate:.1f} faces/s).{sources}{missing}{archives}"
    )


def frame_text(shot: EvidenceFrame, video: Path, out: Path, text: UserText = as_is) -> str:
    """Which frame of which video was written where, with how many faces."""
    return (
        f"Frame {shot.frame.index} at {shot.frame.timestamp:.3f} s of {text(str(video))} "
        f"({len(shot.faces)} face(s)) written to {text(str(out))}"
    )


def calibration_fit_summary(calibration: Calibration, saved_to: Path) -> dict[str, Any]:
    """A newly fitted calibration for its reader (JSON-ready): its size and sources, the
    scores at FMR 1e-2, 1e-3 and 1e-4 with their intervals, and where it was saved."""
    from facesift.match.policy import operating_points
    from facesift.match.policy import summary as fit_summary

    return {
        **fit_summary(calibration),
        "operating_points": operating_points(calibration),
        "saved_to": str(saved_to),
        "provenance": calibration.provenance,
    }


def calibration_fit_text(kind: str, summary: Mapping[str, Any]) -> str:
    """One line for a fitted calibration (see calibration_fit_summary): pairs, the score at
    each FMR the pairs resolve, and the file."""
    points = ", ".join(
        f"FMR {p['fmr']:.0e} at score {p['score']:.4f}"
        if p["resolved"]
        else f"FMR {p['fmr']:.0e} not resolved (too few pairs)"
        for p in summary["operating_points"]
    )
    return (
        f"{kind}: {summary['impostor_pairs']:,} different-person pairs; {points}; "
        f"saved to {summary['saved_to']}"
    )


def calibration_status_lines(status: CalibrationStatus) -> list[str]:
    """Which calibration the FMRs come from, and for the shipped (or reference) and the
    workspace's own: sources, sizes, and each operating point with its 95% interval. The
    status's warnings are left to the interface, which shows them as warnings."""
    lines = [
        f"{status.scope}: FMRs from the {status.source or 'no'} calibration; decision threshold "
        f"{status.threshold:.4f}"
        + (f" (estimated FMR {status.decision_fmr:g})" if status.decision_fmr else "")
    ]
    for label, fit in (("baseline", status.baseline), ("own", status.own)):
        if fit is None:
            lines.append(f"{label}: none")
            continue
        lines.append(
            f"{label} ({fit['kind']}): {fit['impostor_pairs']:,} different-person pairs; "
            f"{_calibration_sources(fit)}"
        )
        lines.extend(f"  {operating_point_text(point)}" for point in fit["operating_points"])
    return lines


def _calibration_sources(fit: Mapping[str, Any]) -> str:
    sources = fit.get("sources")
    if sources:
        return ", ".join(
            f"{name} {s['pairs']:,} pairs from {s['units']} {s['unit_kind']}"
            for name, s in sources.items()
        )
    return f"{fit.get('root', '?')} {fit.get('pairs_file') or ''}".strip()


def operating_point_text(point: Mapping[str, Any]) -> str:
    """The score at an FMR and how sure the calibration is of it (measured rate, interval)."""
    if not point["resolved"]:
        return f"FMR {point['fmr']:.0e}: too few pairs to resolve"
    low, high = point["interval"]
    return (
        f"FMR {point['fmr']:.0e} at score {point['score']:.4f} (measured "
        f"{point['point_fmr']:.2g}, 95% interval {low:.2g}–{high:.2g})"
    )


def verification_report_lines(report: VerificationReport) -> list[str]:
    """An `eval verify` run in brief: accuracy (k-fold where the pair file has folds), ROC
    AUC, TAR at FAR 1e-2 and 1e-3, and the accuracy at the calibrated FMR 1e-3 score."""
    data = report.to_dict()
    accuracy = f"{report.accuracy:.4f}"
    if report.folds > 1:
        accuracy += (
            f" ± {report.accuracy_std:.4f} ({report.folds}-fold, threshold from the other folds)"
        )
    else:
        accuracy += f" (at the default threshold {report.threshold:.3f})"
    lines = [
        f"pairs: {report.pairs}; accuracy {accuracy}",
        f"ROC AUC {report.roc_auc:.4f}; TAR at FAR 1e-2 {data['tar_at_far']['1e-2']:.4f}, "
        f"at 1e-3 {data['tar_at_far']['1e-3']:.4f}",
    ]
    if report.calibrated_threshold is not None:
        lines.append(
            f"accuracy at the calibrated FMR 1e-3 threshold ({report.calibrated_threshold:.4f}): "
            f"{report.calibrated_accuracy:.4f}"
        )
    return lines


def failures_heading(report: VerificationReport) -> str:
    """How many photos had no face, and how the pairs they are in were counted."""
    return f"photos without a face: {len(report.failures)} ({report.to_dict()['failure_handling']})"


def failure_lines(failures: Mapping[str, str], text: UserText = as_is) -> list[str]:
    """The first SHOWN_FAILURES photos that failed, with why, indented under their heading."""
    shown = list(failures.items())[:SHOWN_FAILURES]
    return [f"  {text(path)}: {text(reason)}" for path, reason in shown]


def group_verification_caption(data: Mapping[str, Any]) -> str:
    """Under a per-group verification table: the two scores its rates were measured at."""
    return (
        f"threshold {data['threshold']}; calibrated FMR 1e-3 score "
        f"{data['calibrated_fmr_1e-3_score']} ({data['calibration']} calibration)"
    )


def group_differential_lines(data: Mapping[str, Any]) -> list[str]:
    """How many times higher the worst group's false-match rate is than the best's."""
    return [
        f"{key.replace('_', ' ')}: {data[key]:.1f}×"
        for key in ("fmr_differential_at_threshold", "fmr_differential_at_calibrated_1e-3")
        if data[key] is not None
    ]


def identification_report_lines(report: IdentificationReport) -> list[str]:
    """An `eval identify` run in brief: the gallery and probes, rank-1 and rank-5, and the
    FNIR at FPIR 1% and 0.3%."""
    data = report.to_dict()
    return [
        f"gallery {report.gallery}; probes: {report.mated} mated, {report.non_mated} non-mated; "
        f"{len(report.failures)} photos without a face",
        f"rank-1 {report.rank1:.4f}, rank-5 {report.rank5:.4f}",
        f"FNIR at FPIR 0.01: {data['fnir_at_fpir_0.01']}; "
        f"at FPIR 0.003: {data['fnir_at_fpir_0.003']}",
    ]


def environment_lines(report: Mapping[str, Any]) -> list[str]:
    """The engine, runtimes and threads of `workflows.doctor.environment_report`, a line each
    (the bundled models are a table: see reports.tables.models_table)."""
    engine = report["engine"]
    runtime = engine["embedder_runtime"]
    lines = [
        f"embedder: {engine['embedder']} on {runtime['runtime']}"
        + (
            f" ({', '.join(runtime['providers'])}, {runtime['threads']} threads)"
            if "providers" in runtime
            else ""
        ),
        f"detector: {engine['detector']}; landmarks: {engine['landmarks']}",
    ]
    lines.extend(
        f"{key}: {value}" for key, value in {**report["runtimes"], **report["threads"]}.items()
    )
    lines.append(f"cache_dir: {report['cache_dir']}")
    return lines
