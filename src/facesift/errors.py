"""Errors a user can act on: each names what failed and why."""

from __future__ import annotations

from pathlib import Path


class FacesiftError(Exception):
    """Base class for every error facesift raises on purpose."""


class MediaError(FacesiftError):
    """A file could not be read as media; `path` and `reason` say which and why."""

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = None if path is None else str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}" if self.path else reason)


class ModelError(FacesiftError):
    """A model file is missing, unreadable or incompatible."""


class WorkspaceError(FacesiftError):
    """The workspace or its database cannot serve the request."""


class NotFound(WorkspaceError):
    """What was asked for (a case, person, face, cluster, decision, account …) is not in the
    workspace."""
