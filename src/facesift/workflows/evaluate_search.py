"""Evaluating 1:N search on a folder-per-identity dataset (`facesift eval identify`): rank-1,
CMC, FNIR at FPIR (NIST FRTE vocabulary), with the candidate search the product uses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from facesift.match import metrics
from facesift.match.gallery import GalleryIndex, search_people
from facesift.match.policy import uses_low_res_templates
from facesift.vision.engine import FaceEngine
from facesift.workflows.evaluate import EmbeddedPhotos, embed_photos, identity_folder

# The rank of a mated probe in which no face was found (or whose analysis failed): a miss at
# every rank, as NIST counts a failure to acquire.
NO_FACE_RANK = int(np.iinfo(np.int64).max)


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
    # Probes without a face (or whose analysis failed): the mated ones are among `mated`,
    # each a miss; the non-mated ones are left out of FPIR (not a correct rejection either).
    mated_without_face: int = 0
    non_mated_without_face: int = 0

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
            "mated_probes_without_face": self.mated_without_face,
            "non_mated_probes_without_face": self.non_mated_without_face,
            "failures": self.failures,
            "protocol": "gallery: first photo (by name) of each identity with 2+ photos; "
            "mated probes: its other photos; non-mated: identities without a gallery photo. "
            "FNIR counts a mated search as found only at rank 1 with a score at the threshold. "
            "A mated probe without a face (or whose analysis failed) is a miss at every rank, in "
            "rank-1, CMC and FNIR; a non-mated one is left out of FPIR",
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
    gallery, probes = _split(root, probes_root)
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
    searched = _search(gallery, enrolled, probes, embedded)
    rank = np.array([searched.ranks[k] for k in searched.mated], dtype=int)
    mate_score = np.array([searched.mate_scores[k] for k in searched.mated])
    non_mated = np.array([searched.top[k] for k in searched.others])
    curve = metrics.cmc(rank)
    fnir, thresholds = {}, {}
    for key, fpir in (("0.01", 0.01), ("0.003", 0.003)):
        fnir[key], thresholds[f"fpir_{key}"] = metrics.fnir_at_fpir(
            rank, mate_score, non_mated, fpir
        )
    return IdentificationReport(
        gallery=len(searched.names),
        mated=len(searched.mated),
        non_mated=len(searched.others),
        rank1=float(curve[0]),
        rank5=float(curve[4]),
        cmc=[float(v) for v in curve],
        fnir=fnir,
        thresholds=thresholds,
        failures={**enrolled.failures, **embedded.failures},
        det=metrics.det_open_set(rank, mate_score, non_mated),
        mated_labels=[searched.labels[k] for k in searched.mated],
        ranks=rank,
        mate_scores=mate_score,
        non_mated_labels=[searched.labels[k] for k in searched.others],
        non_mated_top=non_mated,
        candidates=searched.shown,
        mated_without_face=searched.mated_without_face,
        non_mated_without_face=searched.non_mated_without_face,
    )


def _split(root: Path, probes_root: Path | None) -> tuple[dict[str, Path], list[tuple[Path, str]]]:
    """The gallery (first photo by name of each identity with two or more) and the probes:
    the other photos, or those of `probes_root`."""
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
    return gallery, probes


@dataclass
class _Searched:
    """Every usable probe searched: mates' ranks and scores, strangers' top scores; mated
    probes without a face after them, each a miss."""

    names: list[str]
    labels: list[str]
    mated: list[int]
    others: list[int]
    ranks: dict[int, int] = field(default_factory=dict)
    mate_scores: dict[int, float] = field(default_factory=dict)
    top: dict[int, float] = field(default_factory=dict)
    shown: dict[str, list[tuple[str, float]]] = field(default_factory=dict)
    mated_without_face: int = 0
    non_mated_without_face: int = 0


def _search(
    gallery: dict[str, Path],
    enrolled: EmbeddedPhotos,
    probes: list[tuple[Path, str]],
    embedded: EmbeddedPhotos,
) -> _Searched:
    """Rank every gallery person for every probe with a face, by the search the product
    uses (facesift.match.gallery.search_people, small probes to low-resolution templates).
    A mated probe without a face is a miss (NO_FACE_RANK, no score)."""
    at = enrolled.index()
    names = [n for n in gallery if not np.isnan(enrolled.vectors[at[gallery[n]]]).any()]
    assert enrolled.low_res is not None and embedded.face_px is not None
    ids = np.arange(len(names))
    standard = GalleryIndex(ids, ids, np.stack([enrolled.vectors[at[gallery[n]]] for n in names]))
    low_res = GalleryIndex(ids, ids, np.stack([enrolled.low_res[at[gallery[n]]] for n in names]))
    column = {name: k for k, name in enumerate(names)}
    where = embedded.index()
    usable = [(p, n) for p, n in probes if not np.isnan(embedded.vectors[where[p]]).any()]
    out = _Searched(
        names,
        [n for _, n in usable],
        mated=[k for k, (_, n) in enumerate(usable) if n in column],
        others=[k for k, (_, n) in enumerate(usable) if n not in column],
    )
    for start in range(0, len(usable), 512):  # bounded memory for large sets
        chunk = usable[start : start + 512]
        vectors = np.stack([embedded.vectors[where[p]] for p, _ in chunk])
        small = np.array([uses_low_res_templates(embedded.face_px[where[p]]) for p, _ in chunk])
        for k, hits in enumerate(search_people(standard, low_res, vectors, small, len(names))):
            row, (path, name) = start + k, chunk[k]
            out.shown[str(path)] = [(names[h.person_id], h.score) for h in hits[:5]]
            if name in column:
                mate = column[name]
                score = next(h.score for h in hits if h.person_id == mate)
                # Ties rank the mate last.
                out.ranks[row] = 1 + sum(h.score >= score for h in hits if h.person_id != mate)
                out.mate_scores[row] = score
            else:
                out.top[row] = hits[0].score if hits else -1.0
    faceless = [(p, n) for p, n in probes if np.isnan(embedded.vectors[where[p]]).any()]
    for _, name in faceless:
        if name in column:
            row = len(out.labels)
            out.labels.append(name)
            out.mated.append(row)
            out.ranks[row] = NO_FACE_RANK
            out.mate_scores[row] = -np.inf
            out.mated_without_face += 1
        else:
            out.non_mated_without_face += 1
    return out
