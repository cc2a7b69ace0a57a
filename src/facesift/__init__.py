"""facesift: find and identify faces in photo and video collections, offline, with provenance.

The public API is small:

    from facesift import FaceEngine, Workspace

    engine = FaceEngine()
    faces = engine.analyze("photo.jpg")            # list[Face]: bbox, landmarks, quality, embedding
    scores = engine.similarity(a_vectors, b_vectors)  # n×m, higher = more similar

    ws = Workspace("case-folder")
    ws.enroll("Jane Doe", ["jane1.jpg", "jane2.jpg"], {"unit": "…"})
    ws.scan(["evidence/"], case="op-1")            # photos and videos (faces linked into tracks)
    ws.search("probe.jpg").faces[0].candidates     # ranked people with scores
    ws.search("clip.mp4").tracks                   # a video: one entry per appearance
    ws.identify(case="op-1")
    ws.verify("a.jpg", "b.jpg").same_person
    ws.cluster(case="op-1", actor="analyst")     # unknown people: faces that match nobody
    ws.cooccur("Jane Doe", case="op-1")           # who appears with whom
    ws.timeline("Jane Doe")                       # where and when, by source post time
"""

from typing import TYPE_CHECKING, Any

from facesift.errors import FacesiftError, MediaError, ModelError, NotFound, WorkspaceError

# Imported on first use: a worker process that only analyses pixels never loads the
# database layer.
_LAZY = {
    "DEFAULT_THRESHOLD": "facesift.match.decision",
    "load_image": "facesift.media.image",
    "FaceEngine": "facesift.vision.engine",
    "Face": "facesift.vision.face",
    "Quality": "facesift.vision.quality",
    "BestShot": "facesift.workflows.results",
    "Candidate": "facesift.workflows.results",
    "EnrollOutcome": "facesift.workflows.results",
    "FaceEntry": "facesift.workflows.results",
    "FaceMatches": "facesift.workflows.results",
    "IdentifyResult": "facesift.workflows.results",
    "MediaEntry": "facesift.workflows.results",
    "MediaSource": "facesift.media.sources",
    "PersonEntry": "facesift.workflows.results",
    "ScanReport": "facesift.workflows.results",
    "SearchResult": "facesift.workflows.results",
    "Source": "facesift.workflows.results",
    "Timeline": "facesift.workflows.results",
    "TrackMatches": "facesift.workflows.results",
    "Verification": "facesift.workflows.results",
    "Workspace": "facesift.workflows.workspace",
}

if TYPE_CHECKING:
    from facesift.match.decision import DEFAULT_THRESHOLD
    from facesift.media.image import load_image
    from facesift.media.sources import MediaSource
    from facesift.vision.engine import FaceEngine
    from facesift.vision.face import Face
    from facesift.vision.quality import Quality
    from facesift.workflows.results import (
        BestShot,
        Candidate,
        EnrollOutcome,
        FaceEntry,
        FaceMatches,
        IdentifyResult,
        MediaEntry,
        PersonEntry,
        ScanReport,
        SearchResult,
        Source,
        Timeline,
        TrackMatches,
        Verification,
    )
    from facesift.workflows.workspace import Workspace


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'facesift' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "BestShot",
    "Candidate",
    "EnrollOutcome",
    "Face",
    "FaceEngine",
    "FaceEntry",
    "FaceMatches",
    "FacesiftError",
    "IdentifyResult",
    "MediaEntry",
    "MediaError",
    "MediaSource",
    "ModelError",
    "NotFound",
    "PersonEntry",
    "Quality",
    "ScanReport",
    "SearchResult",
    "Source",
    "Timeline",
    "TrackMatches",
    "Verification",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "load_image",
]
