"""Private copies of media that exist only inside an archive (a WACZ's responses), kept by
content under the workspace: `archives/ab/abcdef….ext`.

A copy is written once, under a temporary name first, and made read-only; one already kept
is never rewritten. The archive itself stays where it is, untouched: each copy's source
names it, its SHA-256 and the record the bytes came from.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path
from typing import BinaryIO

ARCHIVE_COPIES = "archives"
_CHUNK = 1 << 20


def keep_copy(folder: Path, stream: BinaryIO, suffix: str) -> Path:
    """Copy `stream` under `folder`/archives by its SHA-256; the kept file's path."""
    root = folder / ARCHIVE_COPIES
    root.mkdir(mode=0o700, exist_ok=True)
    digest = hashlib.sha256()
    fd, temp_name = tempfile.mkstemp(dir=root, prefix=".incoming-")
    temp = Path(temp_name)
    try:
        with os.fdopen(fd, "wb") as out:
            while chunk := stream.read(_CHUNK):
                digest.update(chunk)
                out.write(chunk)
        sha = digest.hexdigest()
        final = root / sha[:2] / f"{sha}{suffix}"
        final.parent.mkdir(mode=0o700, exist_ok=True)
        if not final.exists():
            os.chmod(temp, 0o400)
            os.replace(temp, final)
        return final
    finally:
        with contextlib.suppress(FileNotFoundError):
            temp.unlink()
