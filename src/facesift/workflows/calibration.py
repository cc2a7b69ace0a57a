"""Calibration from the workspace's own faces, and the decision policy that follows from it.

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
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from facesift.match.calibration import (
    Calibration,
    ImpostorPairs,
    SeenTogether,
    cooccurrence_pairs,
    fit_calibration,
    labelled_impostor_pairs,
    pool_pairs,
)
from facesift.store import repository as repo
from facesift.vision.engine import FaceEngine

# Fewer different-person pairs than this make no fit (the interval would say nothing).
MIN_OWN_PAIRS = 100


def own_pairs(session: Session, engine: FaceEngine, case: str | None) -> list[ImpostorPairs]:
    """The workspace's different-person pairs: the gallery's, and faces seen together (in
    `case`'s pictures only, when given)."""
    _, people, vectors = repo.gallery_vectors(session, engine.model_name, engine.model_sha256)
    sources = []
    if len(people) > 1:
        sources.append(labelled_impostor_pairs(vectors, people, "gallery"))
    together = repo.faces_seen_together(session, engine.model_sha256, case)
    templates = repo.track_templates(session, sorted({t for *_, t, _, _ in together if t}))
    items = [
        SeenTogether(
            (media_id, frame),
            ("track", track) if track is not None else ("face", face_id),
            templates[track] if track is not None else vector,
            box,
        )
        for face_id, media_id, frame, track, box, vector in together
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


def own_calibration(
    sessions: sessionmaker[Session], engine: FaceEngine, folder: Path, case: str | None
) -> Calibration | None:
    """The workspace's (or `case`'s) own calibration: read from its file while the faces it
    was fitted on are unchanged, else fitted again and saved."""
    scope = "workspace" if case is None else f"case {case}"
    with sessions() as session:
        stamp = list(repo.faces_stamp(session))
        path = folder / _file_name(engine.model_name, case)
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
                return cached
        elif _empty_marker(path).is_file() and _read_stamp(_empty_marker(path)) == stamp:
            return None
        fitted = fit_own(own_pairs(session, engine, case), engine, scope, stamp)
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
