"""facesift: find and identify faces in photo collections, offline, with provenance.

The public API is small:

    from facesift import FaceEngine, Workspace

    engine = FaceEngine()
    faces = engine.analyze("photo.jpg")            # list[Face]: bbox, landmarks, quality, embedding
    scores = engine.similarity(a_vectors, b_vectors)  # n×m, higher = more similar

    ws = Workspace("case-folder")
    ws.enroll("Jane Doe", ["jane1.jpg", "jane2.jpg"], {"unit": "…"})
    ws.scan(["evidence/"], case="op-1")
    ws.search("probe.jpg").faces[0].candidates     # ranked people with scores
    ws.identify(case="op-1")
    ws.verify("a.jpg", "b.jpg").same_person
"""

from facesift.errors import FacesiftError, MediaError, ModelError, WorkspaceError
from facesift.match.decision import DEFAULT_THRESHOLD
from facesift.media.image import load_image
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Face
from facesift.vision.quality import Quality
from facesift.workflows.results import (
    Candidate,
    EnrollOutcome,
    FaceMatches,
    IdentifyResult,
    ScanReport,
    SearchResult,
    Verification,
)
from facesift.workflows.workspace import Workspace

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_THRESHOLD",
    "Candidate",
    "EnrollOutcome",
    "Face",
    "FaceEngine",
    "FaceMatches",
    "FacesiftError",
    "IdentifyResult",
    "MediaError",
    "ModelError",
    "Quality",
    "ScanReport",
    "SearchResult",
    "Verification",
    "Workspace",
    "WorkspaceError",
    "__version__",
    "load_image",
]
