"""Evaluation and calibration on labelled datasets: pair files and folder-per-identity sets.

Pair files: LFW's format (View 1 files start with the number of same pairs; View 2's
`pairs.txt` starts with "10 300": 10 folds of 300 same then 300 different pairs) and CSV
(`file_x,file_y,Decision` with Yes/No, paths relative to the root).
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facesift.errors import FacesiftError
from facesift.execution.local import LocalProcesses, default_workers
from facesift.match.calibration import (
    Calibration,
    cross_impostor_scores,
    cross_impostor_units,
    fit_calibration,
    labelled_impostor_pairs,
)
from facesift.match.gallery import GalleryIndex, search_people
from facesift.match.policy import uses_low_res_templates
from facesift.media.files import iter_media_files
from facesift.media.image import load_image
from facesift.vision.engine import FaceEngine
from facesift.vision.face import choose_primary
from facesift.vision.lowres import degrade
from facesift.vision.similarity import l2_normalize


@dataclass(frozen=True)
class Pair:
    a: Path
    b: Path
    same: bool
    fold: int = 0


def read_pairs(path: Path, root: Path) -> list[Pair]:
    """Pairs from an LFW-format or CSV pair file; image paths resolved under `root`."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise FacesiftError(f"{path}: cannot read the pair file: {exc}") from None
    if path.suffix.lower() == ".csv" or text.lstrip().lower().startswith("file_x"):
        return _read_csv_pairs(text, root, path)
    return _read_lfw_pairs(text, root, path)


def _lfw_image(root: Path, name: str, number: str) -> Path:
    return root / name / f"{name}_{int(number):04d}.jpg"


def _read_lfw_pairs(text: str, root: Path, path: Path) -> list[Pair]:
    lines = [line.split() for line in text.splitlines() if line.strip()]
    try:
        header = [int(v) for v in lines[0]]
        folds, per_fold = (header[0], header[1]) if len(header) == 2 else (1, header[0])
    except (IndexError, ValueError):
        raise FacesiftError(
            f"{path}: not a pair file (LFW's starts with the number of pairs; a CSV one with "
            "the header file_x,file_y,Decision)"
        ) from None
    pairs: list[Pair] = []
    body = lines[1:]
    if len(body) != folds * per_fold * 2:
        raise FacesiftError(
            f"{path}: expected {folds} fold(s) of {per_fold} same + {per_fold} different pairs, "
            f"found {len(body)} lines"
        )
    for index, parts in enumerate(body):
        fold = index // (2 * per_fold)
        if len(parts) == 3:
            name, i, j = parts
            pairs.append(Pair(_lfw_image(root, name, i), _lfw_image(root, name, j), True, fold))
        elif len(parts) == 4:
            a, i, b, j = parts
            pairs.append(Pair(_lfw_image(root, a, i), _lfw_image(root, b, j), False, fold))
        else:
            raise FacesiftError(f"{path}: line {index + 2} is neither a same nor a different pair")
    return pairs


def _read_csv_pairs(text: str, root: Path, path: Path) -> list[Pair]:
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"file_x", "file_y", "Decision"} <= set(rows[0]):
        raise FacesiftError(f"{path}: a CSV pair file needs the columns file_x, file_y, Decision")
    return [
        Pair(
            root / r["file_x"],
            root / r["file_y"],
            r["Decision"].strip().lower() in ("yes", "true", "1"),
        )
        for r in rows
    ]


@dataclass
class EmbeddedPhotos:
    """One embedding per photo (its main face); NaN rows and a reason where none was found."""

    paths: list[Path]
    vectors: np.ndarray
    failures: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)
    face_px: np.ndarray | None = None  # width of each main face (NaN where none)
    low_res: np.ndarray | None = None  # their low-resolution templates, when asked for

    def index(self) -> dict[Path, int]:
        return {p: k for k, p in enumerate(self.paths)}


def embed_photos(
    engine: FaceEngine,
    paths: list[Path],
    *,
    prefer: str = "largest",
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    templates: bool = False,
) -> EmbeddedPhotos:
    """The main face of each photo (thorough detection), embedded; failures say why.

    When several faces make the main one ambiguous, the one nearest the centre is taken.
    `templates` also makes their low-resolution templates (for gallery photos).
    """
    unique = list(dict.fromkeys(paths))
    vectors = np.full((len(unique), engine.embedder.dim), np.nan, np.float32)
    result = EmbeddedPhotos(
        unique,
        vectors,
        face_px=np.full(len(unique), np.nan),
        low_res=np.full_like(vectors, np.nan) if templates else None,
    )
    workers = default_workers(engine) if workers is None else workers
    pool_size = min(workers, len(unique))
    with LocalProcesses(engine, pool_size, thorough=True, templates=templates) as pool:
        for done, (k, analysis) in enumerate(
            pool.imap(((k, p) for k, p in enumerate(unique))), start=1
        ):
            path = str(unique[k])
            if isinstance(analysis, str):
                result.failures[path] = analysis
            else:
                shape = (analysis.height, analysis.width)
                face, why = choose_primary(analysis.faces, shape, prefer)
                if face is None and analysis.faces:
                    face, why = choose_primary(analysis.faces, shape, "central")
                if face is None:
                    result.failures[path] = why
                else:
                    vectors[k] = face.embedding
                    result.face_px[k] = face.quality.face_px  # type: ignore[index]
                    if result.low_res is not None and face.low_res_embedding is not None:
                        result.low_res[k] = face.low_res_embedding
                    if len(analysis.faces) > 1:
                        result.notes[path] = why
            if progress is not None:
                progress(done, len(unique))
    return result


def identity_folder(root: Path) -> tuple[list[Path], list[str]]:
    """Every photo under `root`/<identity>/, with its identity."""
    photos, labels = [], []
    for folder in sorted(
        p for p in Path(root).iterdir() if p.is_dir() and not p.name.startswith(".")
    ):
        for photo in iter_media_files([folder]):
            photos.append(photo)
            labels.append(folder.name)
    if not photos:
        raise FacesiftError(f"{root}: no photos in per-identity subfolders")
    return photos, labels


def calibrate(
    engine: FaceEngine,
    root: Path,
    *,
    pairs_file: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Fit score → FMR on all different-identity pairs of a folder-per-identity dataset.

    With `pairs_file`, only the photos that file mentions are used (as for LFW View 1's
    pairsDevTrain.txt, which leaves the DevTest people out).
    """
    photos, labels = _calibration_photos(root, pairs_file)
    embedded = embed_photos(engine, photos, prefer="central", workers=workers, progress=progress)
    found = ~np.isnan(embedded.vectors).any(axis=1)
    identities = [labels[k] for k in np.flatnonzero(found)]
    pairs = labelled_impostor_pairs(embedded.vectors[found], np.asarray(identities), "reference")
    provenance: dict[str, Any] = {
        "root": Path(root).name,
        "pairs_file": pairs_file.name if pairs_file else None,
        "pairs": "all different-identity pairs among the photos",
        "fitted": date.today().isoformat(),
        "photos": int(found.sum()),
        "identities": len(set(identities)),
        "photos_without_face": len(embedded.failures),
        "units": pairs.unit_count,
        "pipeline": engine.describe(),
    }
    return fit_calibration(
        pairs.scores, engine.model_name, engine.model_sha256, provenance, units=pairs.units
    )


# Probe faces of the low-resolution calibration are shrunk to these widths (pixels).
LOW_RES_CALIBRATION_PX = (36.0, 48.0)


def calibrate_low_res(
    engine: FaceEngine,
    root: Path,
    *,
    pairs_file: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Calibration:
    """Fit score → FMR for small probe faces against low-resolution templates.

    Every photo's low-resolution template is compared with copies of every photo of another
    identity shrunk so that the face is 36 and 48 px wide (blurred and JPEG-compressed as
    facesift.vision.lowres.degrade does), each analysed as a probe.
    """
    photos, labels = _calibration_photos(root, pairs_file)
    total = 2 * len(photos)
    gallery = embed_photos(
        engine,
        photos,
        prefer="central",
        workers=workers,
        progress=None if progress is None else lambda d, _: progress(d, total),
        templates=True,
    )
    assert gallery.low_res is not None and gallery.face_px is not None
    found = ~np.isnan(gallery.low_res).any(axis=1)
    with tempfile.TemporaryDirectory() as folder:
        copies: list[Path] = []
        copy_labels: list[str] = []
        for k in np.flatnonzero(found):
            pixels = load_image(photos[k]).pixels
            for width in LOW_RES_CALIBRATION_PX:
                scale = width / gallery.face_px[k]
                if scale < 1.0:
                    copies.append(Path(folder) / f"{k}-{width:.0f}.png")
                    Image.fromarray(degrade(pixels, scale)).save(copies[-1])
                    copy_labels.append(labels[k])
        probes = embed_photos(
            engine,
            copies,
            prefer="central",
            workers=workers,
            progress=None if progress is None else lambda d, n: progress(len(photos) + d, total),
        )
    usable = ~np.isnan(probes.vectors).any(axis=1)
    probe_labels = [copy_labels[k] for k in np.flatnonzero(usable)]
    gallery_labels = [labels[k] for k in np.flatnonzero(found)]
    scores = cross_impostor_scores(
        probes.vectors[usable], probe_labels, gallery.low_res[found], gallery_labels
    )
    units = cross_impostor_units(probe_labels, gallery_labels)
    provenance: dict[str, Any] = {
        "root": Path(root).name,
        "pairs_file": pairs_file.name if pairs_file else None,
        "comparison": "small probe faces against low-resolution templates",
        "pairs": (
            "every photo's low-resolution template against copies of every photo of another "
            f"identity shrunk to faces {', '.join(f'{w:.0f}' for w in LOW_RES_CALIBRATION_PX)}"
            " px wide, blurred and JPEG-compressed"
        ),
        "fitted": date.today().isoformat(),
        "photos": int(found.sum()),
        "probe_copies": int(usable.sum()),
        "identities": len({labels[k] for k in np.flatnonzero(found)}),
        "pipeline": engine.describe(),
    }
    return fit_calibration(scores, engine.model_name, engine.model_sha256, provenance, units=units)


def _calibration_photos(root: Path, pairs_file: Path | None) -> tuple[list[Path], list[str]]:
    if pairs_file is not None:
        photos = sorted({p for pair in read_pairs(pairs_file, root) for p in (pair.a, pair.b)})
        return photos, [p.parent.name for p in photos]
    return identity_folder(root)


@dataclass
class VerificationReport:
    pairs: int
    folds: int
    accuracy: float
    accuracy_std: float
    fold_accuracies: list[float]
    roc_auc: float
    tar_at_far: dict[str, float]
    threshold: float
    threshold_accuracy: float
    calibrated_threshold: float | None
    calibrated_accuracy: float | None
    failures: dict[str, str]
    scores: np.ndarray
    same: np.ndarray

    def to_dict(self) -> dict[str, Any]:
        return {
            "pairs": self.pairs,
            "folds": self.folds,
            "accuracy": round(self.accuracy, 5),
            "accuracy_std": round(self.accuracy_std, 5),
            "fold_accuracies": [round(a, 5) for a in self.fold_accuracies],
            "roc_auc": round(self.roc_auc, 5),
            "tar_at_far": {k: round(v, 5) for k, v in self.tar_at_far.items()},
            "threshold": self.threshold,
            "threshold_accuracy": round(self.threshold_accuracy, 5),
            "calibrated_threshold_fmr_1e-3": self.calibrated_threshold,
            "calibrated_accuracy": None
            if self.calibrated_accuracy is None
            else round(self.calibrated_accuracy, 5),
            "failures": self.failures,
            "failure_handling": "a pair with a photo without a detected face counts as 'different'",
        }


def evaluate_verification(
    engine: FaceEngine,
    pairs: list[Pair],
    *,
    threshold: float,
    calibration: Calibration | None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
    embedded: EmbeddedPhotos | None = None,
) -> VerificationReport:
    """Accuracy (cross-validated over folds when the file has several), ROC AUC, TAR at FAR.

    `embedded`: the pairs' photos already embedded (by embed_photos), e.g. for group reports.
    """
    from facesift.match import metrics

    photos = [p for pair in pairs for p in (pair.a, pair.b)]
    if embedded is None:
        embedded = embed_photos(
            engine, photos, prefer="central", workers=workers, progress=progress
        )
    where = embedded.index()
    unit = l2_normalize(np.nan_to_num(embedded.vectors))
    missing = np.isnan(embedded.vectors).any(axis=1)
    scores = np.array(
        [
            np.nan
            if missing[where[p.a]] or missing[where[p.b]]
            else float(unit[where[p.a]] @ unit[where[p.b]])
            for p in pairs
        ]
    )
    same = np.array([p.same for p in pairs])
    folds = np.array([p.fold for p in pairs])
    if len(np.unique(folds)) > 1:
        mean, std, per_fold = metrics.cross_validated_accuracy(scores, same, folds)
    else:
        mean, std, per_fold = metrics.accuracy(scores, same, threshold), 0.0, []
    found = ~np.isnan(scores)
    floor = np.nanmin(scores) - 1 if found.any() else -1.0
    filled = np.where(found, scores, floor)  # missing faces score below everything
    _, far, tar = metrics.roc(filled[same], filled[~same])
    calibrated = calibration.threshold_for(1e-3) if calibration is not None else None
    return VerificationReport(
        pairs=len(pairs),
        folds=len(np.unique(folds)),
        accuracy=mean,
        accuracy_std=std,
        fold_accuracies=per_fold,
        roc_auc=metrics.auc(far, tar),
        tar_at_far={
            "1e-2": metrics.tar_at_far(far, tar, 1e-2),
            "1e-3": metrics.tar_at_far(far, tar, 1e-3),
        },
        threshold=threshold,
        threshold_accuracy=metrics.accuracy(scores, same, threshold),
        calibrated_threshold=calibrated,
        calibrated_accuracy=None
        if calibrated is None
        else metrics.accuracy(scores, same, calibrated),
        failures=embedded.failures,
        scores=scores,
        same=same,
    )


@dataclass
class IdentificationReport:
    gallery: int
    mated: int
    non_mated: int
    rank1: float
    rank5: float
    cmc: list[float]
    fnir: dict[str, float]
    thresholds: dict[str, float]
    failures: dict[str, str]
    det: tuple[np.ndarray, np.ndarray]
    # Per probe, for group reports: identities, mate ranks and scores; strangers' top scores.
    mated_labels: list[str] = field(default_factory=list)
    ranks: np.ndarray = field(default_factory=lambda: np.zeros(0, int))
    mate_scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    non_mated_labels: list[str] = field(default_factory=list)
    non_mated_top: np.ndarray = field(default_factory=lambda: np.zeros(0))
    # Each probe photo's five best candidates (name, score), as a search shows them.
    candidates: dict[str, list[tuple[str, float]]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "gallery": self.gallery,
            "mated_probes": self.mated,
            "non_mated_probes": self.non_mated,
            "rank1": round(self.rank1, 5),
            "rank5": round(self.rank5, 5),
            "cmc": [round(v, 5) for v in self.cmc],
            "fnir_at_fpir_0.01": _round(self.fnir["0.01"]),
            "fnir_at_fpir_0.003": _round(self.fnir["0.003"]),
            "thresholds": {k: _round(v) for k, v in self.thresholds.items()},
            "failures": self.failures,
            "protocol": "gallery: first photo (by name) of each identity with 2+ photos; "
            "mated probes: its other photos; non-mated: identities without a gallery photo. "
            "FNIR counts a mated search as found only at rank 1 with a score at the threshold",
        }


def _round(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 5)


def evaluate_identification(
    engine: FaceEngine,
    root: Path,
    *,
    probes_root: Path | None = None,
    workers: int | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> IdentificationReport:
    """Open-set 1:N search on a folder-per-identity dataset (NIST FRTE metrics)."""
    from facesift.match import metrics

    photos, labels = identity_folder(root)
    by_identity: dict[str, list[Path]] = {}
    for photo, label in zip(photos, labels, strict=True):
        by_identity.setdefault(label, []).append(photo)
    gallery = {name: sorted(items)[0] for name, items in by_identity.items() if len(items) >= 2}
    if probes_root is None:
        probes = [
            (p, name)
            for name, items in by_identity.items()
            for p in sorted(items)
            if p != gallery.get(name)
        ]
    else:
        probe_photos, probe_labels = identity_folder(probes_root)
        probes = list(zip(probe_photos, probe_labels, strict=True))
    total = len(gallery) + len(probes)
    enrolled = embed_photos(
        engine,
        list(gallery.values()),
        prefer="largest",
        workers=workers,
        progress=None if progress is None else lambda d, _: progress(d, total),
        templates=True,
    )
    embedded = embed_photos(
        engine,
        [p for p, _ in probes],
        prefer="largest",
        workers=workers,
        progress=None if progress is None else lambda d, _: progress(len(gallery) + d, total),
    )
    at = enrolled.index()
    names = [n for n in gallery if not np.isnan(enrolled.vectors[at[gallery[n]]]).any()]
    assert enrolled.low_res is not None and embedded.face_px is not None
    ids = np.arange(len(names))
    standard = GalleryIndex(ids, ids, np.stack([enrolled.vectors[at[gallery[n]]] for n in names]))
    low_res = GalleryIndex(ids, ids, np.stack([enrolled.low_res[at[gallery[n]]] for n in names]))
    column = {name: k for k, name in enumerate(names)}
    where = embedded.index()
    usable = [(p, n) for p, n in probes if not np.isnan(embedded.vectors[where[p]]).any()]
    mated_rows = [k for k, (_, n) in enumerate(usable) if n in column]
    other_rows = [k for k, (_, n) in enumerate(usable) if n not in column]
    ranks: dict[int, int] = {}
    mate_scores: dict[int, float] = {}
    top: dict[int, float] = {}
    shown: dict[str, list[tuple[str, float]]] = {}
    for start in range(0, len(usable), 512):  # bounded memory for large sets
        chunk = usable[start : start + 512]
        vectors = np.stack([embedded.vectors[where[p]] for p, _ in chunk])
        small = np.array([uses_low_res_templates(embedded.face_px[where[p]]) for p, _ in chunk])
        # Every person ranked, by the search the product uses.
        for k, hits in enumerate(search_people(standard, low_res, vectors, small, len(names))):
            row, (path, name) = start + k, chunk[k]
            shown[str(path)] = [(names[h.person_id], h.score) for h in hits[:5]]
            if name in column:
                mate = column[name]
                score = next(h.score for h in hits if h.person_id == mate)
                # Ties rank the mate last.
                ranks[row] = 1 + sum(h.score >= score for h in hits if h.person_id != mate)
                mate_scores[row] = score
            else:
                top[row] = hits[0].score if hits else -1.0
    rank = np.array([ranks[k] for k in mated_rows], dtype=int)
    mate_score = np.array([mate_scores[k] for k in mated_rows])
    non_mated = np.array([top[k] for k in other_rows])
    curve = metrics.cmc(rank)
    fnir, thresholds = {}, {}
    for key, fpir in (("0.01", 0.01), ("0.003", 0.003)):
        fnir[key], thresholds[f"fpir_{key}"] = metrics.fnir_at_fpir(
            rank, mate_score, non_mated, fpir
        )
    return IdentificationReport(
        gallery=len(names),
        mated=len(mated_rows),
        non_mated=len(other_rows),
        rank1=float(curve[0]),
        rank5=float(curve[4]),
        cmc=[float(v) for v in curve],
        fnir=fnir,
        thresholds=thresholds,
        failures={**enrolled.failures, **embedded.failures},
        det=metrics.det_open_set(rank, mate_score, non_mated),
        mated_labels=[usable[k][1] for k in mated_rows],
        ranks=rank,
        mate_scores=mate_score,
        non_mated_labels=[usable[k][1] for k in other_rows],
        non_mated_top=non_mated,
        candidates=shown,
    )
