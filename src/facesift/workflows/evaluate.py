"""Evaluation and calibration on labelled datasets: pair files and folder-per-identity sets.

Pair files: LFW's format (View 1 files start with the number of same pairs; View 2's
`pairs.txt` starts with "10 300": 10 folds of 300 same then 300 different pairs) and CSV
(`file_x,file_y,Decision` with Yes/No, paths relative to the root).
"""

from __future__ import annotations

import csv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import FacesiftError
from facesift.execution.local import LocalProcesses, default_workers
from facesift.match.calibration import (
    Calibration,
)
from facesift.media.files import iter_media_files
from facesift.vision.engine import FaceEngine
from facesift.vision.face import choose_primary
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


@dataclass
class VerificationReport:
    """Accuracy and ROC of a pair file.

    A pair with a photo where no face was found (or whose analysis failed) is not compared:
    a failure to acquire, reported apart (`pairs_not_compared`, and each photo in `failures`)
    and never a correct decision: every accuracy counts it as wrong; among same-person pairs
    it is a non-match (TAR, ROC); different-person pairs not compared are left out of the
    false-match rates, which are over the pairs compared.
    """

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

    @property
    def not_compared(self) -> np.ndarray:
        return np.isnan(self.scores)

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
            "pairs_not_compared": int(self.not_compared.sum()),
            "same_pairs_not_compared": int((self.not_compared & self.same).sum()),
            "failure_handling": f"{int(self.not_compared.sum())} of {self.pairs} pairs have a "
            "photo without a face (or whose analysis failed) and were not compared: counted as "
            "wrong in the accuracies and as non-matches in TAR, left out of the false-match "
            "rates",
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
    same = np.array([p.same for p in pairs], dtype=bool)
    folds = np.array([p.fold for p in pairs])
    if len(np.unique(folds)) > 1:
        mean, std, per_fold = _cross_validated_accuracy(scores, same, folds)
    else:
        mean, std, per_fold = _accuracy(scores, same, threshold), 0.0, []
    found = ~np.isnan(scores)
    floor = np.nanmin(scores) - 1 if found.any() else -1.0
    # Same-person pairs not compared are non-matches (below every score); different-person
    # pairs not compared were not decided: left out of the false-match rates.
    genuine = np.where(found, scores, floor)[same]
    _, far, tar = metrics.roc(genuine, scores[found & ~same])
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
        threshold_accuracy=_accuracy(scores, same, threshold),
        calibrated_threshold=calibrated,
        calibrated_accuracy=None if calibrated is None else _accuracy(scores, same, calibrated),
        failures=embedded.failures,
        scores=scores,
        same=same,
    )


def _accuracy(scores: np.ndarray, same: np.ndarray, threshold: float) -> float:
    """Share of pairs decided right at `threshold`; a pair without a score (not compared: a
    photo without a face) was not decided, so it is not right, whether same or different."""
    if not len(scores):
        return float("nan")
    compared = ~np.isnan(scores)
    decided = np.nan_to_num(scores, nan=-np.inf) >= threshold
    return float(np.mean(compared & (decided == same)))


def _cross_validated_accuracy(
    scores: np.ndarray, same: np.ndarray, folds: np.ndarray
) -> tuple[float, float, list[float]]:
    """Mean and std of per-fold accuracy, each fold's threshold chosen on the pairs compared
    in the other folds; pairs not compared count as wrong (see _accuracy)."""
    from facesift.match import metrics

    results = []
    compared = ~np.isnan(scores)
    for fold in np.unique(folds):
        test = folds == fold
        train = ~test & compared
        threshold = metrics.best_threshold(scores[train], same[train])
        results.append(_accuracy(scores[test], same[test], threshold))
    return float(np.mean(results)), float(np.std(results)), results


def verification_inputs(
    root: Path, pairs: Path | None, groups: Path | None
) -> tuple[dict[str, str] | None, list[Pair] | None, list[Path]]:
    """What `eval verify` embeds: the groups (if asked for), the pairs (if given) and the
    photos — those of the pairs, else every photo of the per-identity folders under `root`."""
    from facesift.workflows.groups import read_groups

    group_of = read_groups(groups) if groups else None
    pair_list = read_pairs(pairs, root) if pairs else None
    photos = (
        sorted({p for pair in pair_list for p in (pair.a, pair.b)})
        if pair_list
        else identity_folder(root)[0]
    )
    return group_of, pair_list, photos
