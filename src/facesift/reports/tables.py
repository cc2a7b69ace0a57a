"""Results as tables: rows of text any interface lays out (terminal, web page, report), and CSV.

Table builders take the typed results of the workflows, or the mappings of a listing (each
row's JSON form), and return a `TextTable`. Text that came from the user's files (names,
paths, notes) goes through `text`, which each interface chooses: escaped control characters
for a terminal, nothing where a template escapes itself. CSV cells that a spreadsheet would
run as formulas are made inert (see reports.output.csv_cell).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from facesift.reports.output import csv_cell
from facesift.workflows.results import Candidate, IdentifyResult, SearchResult

# One row per candidate of each face (photo) or track (video); the head describes the face.
CANDIDATE_COLUMNS = [
    "face_id", "path", "sha256", "x1", "y1", "x2", "y2", "quality", "rank", "person", "score",
    "fmr", "band", "above_threshold", "track_id", "start", "end", "frame_index",
]  # fmt: skip


def write_csv(rows: Iterable[Iterable[Any]], out: TextIO) -> None:
    """Write `rows` as CSV whose cells a spreadsheet cannot run as formulas."""
    writer = csv.writer(out)
    for row in rows:
        writer.writerow([csv_cell(v) for v in row])


def candidates_csv(result: IdentifyResult | SearchResult) -> str:
    """The CSV of an identification or a search: a header, then CANDIDATE_COLUMNS rows."""
    out = io.StringIO()
    write_csv([CANDIDATE_COLUMNS, *candidate_rows(result)], out)
    return out.getvalue()


def candidate_rows(result: IdentifyResult | SearchResult) -> Iterator[list[Any]]:
    """A row per candidate (or one empty-handed row for a face without any): photo faces
    first, then video tracks with their best shot. A search's faces carry no source of their
    own: the searched file is theirs."""
    fallback: dict[str, Any] = {}
    if isinstance(result, SearchResult):
        fallback = {"path": result.image, "sha256": result.sha256}
    for face in result.faces:
        source = face.source or fallback
        head = [face.face_id, source.get("path"), source.get("sha256"),
                *(round(v, 1) for v in face.bbox), round(face.quality.score, 3)]  # fmt: skip
        yield from _with_candidates(head, face.candidates, ["", "", "", ""])
    for track in result.tracks or []:
        source = track.source or fallback
        shot = track.best_shot
        head = [shot.get("face_id", ""), source.get("path"), source.get("sha256"),
                *shot.get("bbox", ["", "", "", ""]), shot.get("quality", "")]  # fmt: skip
        tail = [track.track_id, round(track.start, 3), round(track.end, 3),
                shot.get("frame_index", "")]  # fmt: skip
        yield from _with_candidates(head, track.candidates, tail)


def _with_candidates(
    head: list[Any], candidates: list[Candidate], tail: list[Any]
) -> Iterator[list[Any]]:
    if not candidates:
        yield [*head, "", "", "", "", "", "", *tail]
    for rank, c in enumerate(candidates, start=1):
        fmr = "" if c.fmr is None else f"{c.fmr:.3g}"
        yield [*head, rank, c.person, round(c.score, 4), fmr, c.band, c.above_threshold, *tail]
