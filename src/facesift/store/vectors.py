"""Where the gallery's vectors are searched: the vector-index interface, and FAISS files in
the workspace folder as its one implementation.

The database is the truth; an index is derived from it and rebuilt whenever the gallery
changed (a saved FAISS index whose vectors were only added to grows instead). A use case asks
`indexes.open(name, stamp, vectors)` for the index of one set of vectors (a model's enrolled
faces, or their low-resolution templates): `stamp` says what it must have been built from
(gallery version, model, the vectors' content hash); `vectors()` gives them when it must be
built. A vector database implements the same `open`, syncing its collection instead of
writing files.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import faiss
import numpy as np

from facesift.errors import WorkspaceError
from facesift.match.gallery import GalleryIndex, PeopleIndex, index_kind, vectors_sha256

# (face ids, person ids, n×d vectors) of a gallery, read from the store when needed.
GalleryVectors = tuple[np.ndarray, np.ndarray, np.ndarray]


class VectorIndexes(Protocol):
    """Gallery indexes kept up to date with the store."""

    def open(
        self, name: str, stamp: dict[str, object], vectors: Callable[[], GalleryVectors]
    ) -> PeopleIndex:
        """The index `name` as built from `stamp`'s vectors (built now if it is missing or
        stale: `vectors()` reads them)."""
        ...


class FaissFiles:
    """FAISS indexes saved as files (index, ids, stamp) in one private folder."""

    def __init__(self, folder: Path) -> None:
        if folder.exists() and not folder.is_dir():
            raise WorkspaceError(
                f"{folder}: is a file, where the workspace keeps its vector index "
                "(derived from the database): move it away"
            )
        self.folder = folder

    def open(
        self, name: str, stamp: dict[str, object], vectors: Callable[[], GalleryVectors]
    ) -> PeopleIndex:
        path = self.folder / f"{name}.faiss"
        stored = vectors()
        checked = {
            **stamp,
            "vectors_sha256": vectors_sha256(*stored),
            "index": index_kind(len(stored[0])),
        }
        found = _read_index(path)
        if found is not None:  # read once: checked as it is, else grown if it can be
            saved, gallery = found
            content = gallery.content_sha256()
            if _matches(saved, gallery, checked, content):
                return gallery
            if _extend(saved, gallery, content, checked, stored):
                save_index(gallery, path, checked)
                return gallery
        gallery = GalleryIndex(*stored)
        save_index(gallery, path, checked)
        return gallery


def save_index(gallery: GalleryIndex, path: Path, stamp: dict[str, object]) -> None:
    """Write the index and its stamp (what it was built from) next to each other."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.with_suffix(".json").unlink(missing_ok=True)  # no stamp while files change
    tmp = path.with_suffix(".tmp")
    faiss.write_index(gallery.index, str(tmp))
    np.savez(path.with_suffix(".ids.npz"), face_ids=gallery.face_ids, person_ids=gallery.person_ids)
    tmp.replace(path)
    path.with_suffix(".json").write_text(json.dumps({**stamp, "dim": gallery.dim}))
    for written in (path, path.with_suffix(".ids.npz"), path.with_suffix(".json")):
        os.chmod(written, 0o600)  # biometric data


def load_index(path: Path, stamp: dict[str, object]) -> GalleryIndex | None:
    """The saved index if its stamp matches `stamp` and it holds what the stamp's content
    hash says (an altered file is never trusted), else None (missing or stale)."""
    found = _read_index(path)
    return found[1] if found is not None and _matches(*found, stamp) else None


def _matches(
    saved: dict[str, object], gallery: GalleryIndex, stamp: dict[str, object], content: str = ""
) -> bool:
    """Whether a saved index was built from `stamp` and holds what its content hash says
    (`content`: the index's own content hash, when already computed)."""
    if {k: saved.get(k) for k in stamp} != stamp:
        return False
    expected = stamp.get("vectors_sha256")
    return expected is None or (content or gallery.content_sha256()) == expected


def _extend(
    saved: dict[str, object],
    gallery: GalleryIndex,
    content: str,
    stamp: dict[str, object],
    stored: GalleryVectors,
) -> bool:
    """Add to a saved index (content hash `content`) the vectors stored after those it holds,
    when it holds exactly the first of `stored` and is of the kind `stamp` asks for.

    Scans only add faces, so the index of every stored face ("seen before") grows at the end:
    adding to it costs the new faces, where rebuilding an HNSW graph costs all of them."""
    held, (face_ids, person_ids, vectors) = len(gallery), stored
    if not 0 < held < len(face_ids) or saved.get("index") != stamp.get("index"):
        return False
    if gallery.dim != vectors.shape[1] or saved.get("vectors_sha256") != content:
        return False  # an altered file
    if vectors_sha256(face_ids[:held], person_ids[:held], vectors[:held]) != content:
        return False  # faces removed, re-enrolled or stored out of order: rebuilt instead
    gallery.add(face_ids[held:], person_ids[held:], vectors[held:])
    return True


def _read_index(path: Path) -> tuple[dict[str, object], GalleryIndex] | None:
    """A saved index and its stamp, if the files can be read and agree in size."""
    try:
        saved = json.loads(path.with_suffix(".json").read_text())
        ids = np.load(path.with_suffix(".ids.npz"))
        index = faiss.read_index(str(path))
    except (OSError, ValueError, RuntimeError):
        return None
    if not isinstance(saved, dict) or index.ntotal != len(ids["face_ids"]):
        return None
    gallery = GalleryIndex.__new__(GalleryIndex)
    gallery.face_ids = ids["face_ids"]
    gallery.person_ids = ids["person_ids"]
    gallery.dim = int(saved.get("dim", 0))
    gallery.kind = "hnsw" if hasattr(index, "hnsw") else "exact"
    gallery.index = index
    return saved, gallery
