"""Annotated copies of searched photos: each face boxed and numbered as the results list it.

A face is named on the picture only when its best candidate is above the decision threshold;
every other face reads "unknown", so that the picture never shows a weak candidate as a
finding. The copy is a new image: the searched file is never drawn on.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from facesift.media.draw import draw_boxes
from facesift.media.image import ImageSource, load_image
from facesift.workflows.results import FaceMatches, SearchResult

MATCH_COLOR = "#ffd400"  # the best candidate is above the threshold
UNKNOWN_COLOR = "#9ecbff"


def face_labels(faces: Sequence[FaceMatches]) -> tuple[list[str], list[str]]:
    """A label and a colour per face: "k: name score" above the threshold, else "k: unknown";
    k counts from 1 in the order of the results."""
    labels, colors = [], []
    for k, face in enumerate(faces, start=1):
        best = face.candidates[0] if face.candidates else None
        if best is not None and best.above_threshold:
            labels.append(f"{k}: {best.person} {best.score:.2f}")
            colors.append(MATCH_COLOR)
        else:
            labels.append(f"{k}: unknown")
            colors.append(UNKNOWN_COLOR)
    return labels, colors


def annotated_photo(result: SearchResult, photo: ImageSource) -> Image.Image:
    """The searched photo (decoded as the search saw it, EXIF orientation applied) with its
    faces drawn; `photo` is the same file, or its bytes."""
    labels, colors = face_labels(result.faces)
    return draw_boxes(load_image(photo).pixels, [f.bbox for f in result.faces], labels, colors)
