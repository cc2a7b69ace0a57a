"""The user cache directory for files derived from the bundled models, written atomically."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def cache_dir() -> Path:
    """FACESIFT_CACHE_DIR, else $XDG_CACHE_HOME/facesift, else ~/.cache/facesift."""
    configured = os.environ.get("FACESIFT_CACHE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "facesift"


def write_atomic(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers (other processes) never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as handle:
        handle.write(data)
    os.chmod(handle.name, 0o644)
    Path(handle.name).replace(path)
