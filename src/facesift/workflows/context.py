"""The explicit context every use case runs over: where the workspace is, its store, vector
indexes, engine, how scores are judged, and where analysis runs.

A use case is a function of a `Context` and its own arguments; `facesift.Workspace` builds one
context and delegates to them. Another interface (a web app, a job runner) builds its own
context the same way, with other stores, indexes or executors plugged in.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from facesift.errors import WorkspaceError
from facesift.execution import ExecutorFactory, LocalProcesses
from facesift.match.calibration import Calibration
from facesift.match.decision import DEFAULT_DECISION_FMR
from facesift.match.gallery import PeopleIndex
from facesift.store.database import sqlite_url
from facesift.store.records import ModelKey
from facesift.store.store import Store
from facesift.store.vectors import FaissFiles, VectorIndexes
from facesift.vision.engine import FaceEngine

DATABASE_FILE = "facesift.db"
INDEX_DIR = "index"


@dataclass
class Context:
    """One workspace's resources. `decision_fmr`: the estimated false-match rate at which
    scores are judged a match; `fixed_threshold`, a raw score, overrides it. `actor`: who
    acts through this context, named in the audit entry of everything it changes or
    searches (an interface gives each signed-in user a context of their own)."""

    folder: Path
    engine: FaceEngine
    store: Store
    indexes: VectorIndexes
    executor: ExecutorFactory = LocalProcesses
    decision_fmr: float = DEFAULT_DECISION_FMR
    fixed_threshold: float | None = None
    actor: str = field(default_factory=lambda: local_operator())
    # Derived values kept between calls, each with the stamp of what it was derived from.
    # Vector indexes by name (the gallery's, its low-resolution templates', every face's).
    galleries: dict[str, tuple[dict[str, object], PeopleIndex]] = field(default_factory=dict)
    references: dict[bool, tuple[int | None, Calibration | None]] = field(default_factory=dict)
    identified: dict[tuple[object, ...], tuple[object, Any]] = field(default_factory=dict)

    @property
    def model(self) -> ModelKey:
        """The embedder whose vectors this workspace compares."""
        return ModelKey(self.engine.model_name, self.engine.model_sha256)


def open_context(
    folder: str | Path,
    *,
    engine: FaceEngine | None = None,
    database_url: str | None = None,
    threshold: float | None = None,
    decision_fmr: float = DEFAULT_DECISION_FMR,
    executor: ExecutorFactory = LocalProcesses,
    indexes: VectorIndexes | None = None,
    actor: str | None = None,
) -> Context:
    """The context of the workspace folder `folder` (created, private, when new): its SQLite
    database unless `database_url` names another, FAISS index files unless `indexes`."""
    path = Path(folder)
    if not path.exists():  # biometric data: readable by its owner only
        # Several processes may open the same new workspace at once: one of them makes it.
        with contextlib.suppress(FileExistsError):
            path.mkdir(parents=True, mode=0o700)
            os.chmod(path, 0o700)
    if not path.is_dir():
        raise WorkspaceError(f"{path}: the workspace must be a folder")
    indexes = indexes or FaissFiles(path / INDEX_DIR)
    if database_url is None:
        _create_private(path / DATABASE_FILE)
    engine = engine or FaceEngine()
    store = Store(database_url or sqlite_url(path / DATABASE_FILE))
    return Context(
        path, engine, store, indexes, executor, decision_fmr, threshold, actor or local_operator()
    )


def local_operator() -> str:
    """The operating-system user running this process: who acts on a workspace opened
    without naming anyone."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def _create_private(path: Path) -> None:
    """Create `path` empty with owner-only permissions unless it exists (SQLite gives its
    journal files the database file's permissions)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
