"""Calibrations — fitted on a labelled reference set, or on the workspace's own faces — and
the decision policy that follows from them.

A reference set is a folder of photos per identity (`facesift calibrate FOLDER`): every pair
of photos of different identities is an impostor pair.

Two sources of pairs known to be of different people come free with every workspace, in the
exact population and imaging conditions of its cases: the gallery (faces enrolled under
different names) and faces seen together in one photo or video frame. They are pooled into a
fit of the workspace (or of one case: the gallery and that case's pictures), which
facesift.match.policy compares with the baseline calibration — the shipped one, or the
reference set fitted with `facesift calibrate FOLDER` — and uses where the baseline
understates false matches. A fit is derived data: kept in the workspace folder with the stamp
of the faces it was made from, and refitted when they change.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from collections.abc import Callable
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from facesift.errors import NotFound, WorkspaceError
from facesift.match.calibration import (
    LOW_RES,
    Calibration,
    ImpostorPairs,
    SeenTogether,
    bundled_calibration,
    cooccurrence_pairs,
    cross_impostor_scores,
    cross_impostor_units,
    fit_calibration,
    labelled_impostor_pairs,
    pool_pairs,
)
from facesift.match.policy import DecisionPolicy, operating_points, summary
from facesift.media.image import load_image
from facesift.store.records import ModelKey
from facesift.store.store import Tx
from facesift.vision.engine import FaceEngine
from facesift.vision.lowres import degrade
from facesift.workflows.context import Context
from facesift.workflows.evaluate import embed_photos, identity_folder, read_pairs
from facesift.workflows.results import CalibrationStatus

# Fewer different-person pairs than this make no fit (the interval would say nothing).
MIN_OWN_PAIRS = 100


def own_pairs(tx: Tx, model: ModelKey, case: str | None) -> list[ImpostorPairs]:
    """The workspace's different-person pairs: the gallery's, and faces seen together (in
    `case`'s pictures only, when given)."""
    _, people, vectors = tx.gallery_vectors(model)
    sources = []
    if len(people) > 1:
        sources.append(labelled_impostor_pairs(vectors, people, "gallery"))
    together = tx.faces_seen_together(model, case)
    templates = tx.track_templates(sorted({f.track_id for f in together if f.track_id}))
    items = [
        SeenTogether(
            (f.media_id, f.frame_index),
            ("track", f.track_id) if f.track_id is not None else ("face", f.face_id),
            templates[f.track_id] if f.track_id is not None else f.embedding,
            f.bbox,
        )
        for f in together
    ]
    sources.append(cooccurrence_pairs(items))
    return [s for s in sources if len(s.scores)]


def fit_own(
    sources: list[ImpostorPairs], engine: FaceEngine, scope: str, stamp: list[int]
) -> Calibration | None:
    """One calibration from all sources, its interval resampling people and pictures."""
    scores, units = pool_pairs(sources)
    if len(scores) < MIN_OWN_PAIRS:
        return None
    provenance: dict[str, Any] = {
        "fitted_on": "this workspace's own different-person pairs",
        "scope": scope,
        "sources": {s.source: s.describe() for s in sources},
        "units": sum(s.unit_count for s in sources),
        "fitted": datetime.now(UTC).isoformat(timespec="seconds"),
        "stamp": stamp,
        "pipeline": engine.describe(),
    }
    return fit_calibration(scores, engine.model_name, engine.model_sha256, provenance, units=units)


def own_calibration(ctx: Context, case: str | None) -> Calibration | None:
    """The workspace's (or `case`'s) own calibration: read from its file while the faces it
    was fitted on are unchanged, else fitted again and saved."""
    engine = ctx.engine
    scope = "workspace" if case is None else f"case {case}"
    path = ctx.folder / _file_name(engine.model_name, case)

    def cached_or_fitted(tx: Tx) -> tuple[list[int], Calibration | None, bool]:
        stamp = list(tx.faces_stamp())
        if path.is_file():
            try:
                cached = Calibration.load(path)
            except (OSError, ValueError, KeyError):
                cached = None  # derived data: a damaged file is fitted again
            if (
                cached is not None
                and cached.provenance.get("stamp") == stamp
                and cached.model_sha256 == engine.model_sha256
            ):
                return stamp, cached, True
        elif _empty_marker(path).is_file() and _read_stamp(_empty_marker(path)) == stamp:
            return stamp, None, True
        return stamp, fit_own(own_pairs(tx, ctx.model, case), engine, scope, stamp), False

    stamp, fitted, cached = ctx.store.read(cached_or_fitted)
    if cached:
        return fitted
    if fitted is None:
        path.unlink(missing_ok=True)
        _empty_marker(path).write_text(json.dumps(stamp))
    else:
        fitted.save(path)
        _empty_marker(path).unlink(missing_ok=True)
    return fitted


def _file_name(model_name: str, case: str | None) -> str:
    scope = "" if case is None else "-case-" + hashlib.sha256(case.encode()).hexdigest()[:12]
    return f"calibration-own-{model_name}{scope}.json"


def _empty_marker(path: Path) -> Path:
    """Records that the faces of a stamp gave too few pairs, so they are not counted again."""
    return path.with_suffix(".too-few.json")


def _read_stamp(path: Path) -> list[int] | None:
    try:
        return list(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError):
        return None


def calibration_file(ctx: Context, low_res: bool = False) -> Path:
    """Where `facesift calibrate FOLDER` keeps the workspace's reference calibration."""
    suffix = LOW_RES if low_res else ""
    return ctx.folder / f"calibration-{ctx.engine.model_name}{suffix}.json"


def shipped_calibration(ctx: Context, low_res: bool = False) -> Calibration | None:
    """The calibration shipped for the engine's exact model file (LFW DevTrain), if any."""
    engine = ctx.engine
    return bundled_calibration(engine.model_name, engine.model_sha256, low_res, engine.describe())


def reference_calibration(ctx: Context, low_res: bool = False) -> Calibration | None:
    """The calibration fitted on a labelled reference set for this workspace, if any (read
    again whenever its file changes)."""
    path = calibration_file(ctx, low_res)
    stamp = path.stat().st_mtime_ns if path.is_file() else None
    cached = ctx.references.get(low_res)
    if cached is None or cached[0] != stamp:
        own = Calibration.load(path) if stamp is not None else None
        if own is not None and own.model_sha256 != ctx.engine.model_sha256:
            own = None
        cached = ctx.references[low_res] = (stamp, own)
    return cached[1]


def save_calibration(ctx: Context, calibration: Calibration, low_res: bool = False) -> None:
    if calibration.model_sha256 != ctx.engine.model_sha256:
        raise WorkspaceError("the calibration was fitted for another model")
    calibration.save(calibration_file(ctx, low_res))


def policy(ctx: Context, case: str | None = None) -> DecisionPolicy:
    """The decision policy in force for the workspace, or for one case: the baseline
    calibration (a reference set's, else the shipped one), the workspace's own, which of
    them is used, the threshold, and the warnings every result carries."""
    reference = reference_calibration(ctx)
    reference_low = reference_calibration(ctx, low_res=True)
    return DecisionPolicy(
        decision_fmr=ctx.decision_fmr,
        baseline=reference or shipped_calibration(ctx),
        local=own_calibration(ctx, case),
        low_res=reference_low or shipped_calibration(ctx, low_res=True),
        fixed_threshold=ctx.fixed_threshold,
        baseline_kind="reference" if reference is not None else "shipped",
        scope="workspace" if case is None else f"case {case!r}",
        pipeline=ctx.engine.describe(),
    )


def calibration_status(ctx: Context, case: str | None = None) -> CalibrationStatus:
    """Which calibration is in force for the workspace (or a case), its sources, sample
    sizes and intervals, and the warnings results carry."""
    if case is not None and not ctx.store.read(lambda tx: tx.case_exists(case)):
        raise NotFound(f"no case named {case!r} in this workspace")
    in_force = policy(ctx, case)

    def described(calibration: Calibration | None, kind: str | None) -> dict[str, Any] | None:
        if calibration is None:
            return None
        return {
            "kind": kind,
            **summary(calibration),
            "operating_points": operating_points(calibration),
        }

    return CalibrationStatus(
        scope=in_force.scope,
        source=in_force.source,
        decision_fmr=None if in_force.fixed_threshold is not None else in_force.decision_fmr,
        threshold=in_force.threshold,
        baseline=described(in_force.baseline, in_force.baseline_kind),
        own=described(in_force.local, "own"),
        population_check=None if in_force.check is None else in_force.check.to_dict(),
        warnings=in_force.warnings,
    )


# ----------------------------------------------------- reference sets (facesift calibrate)
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
