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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

from facesift.media.sources import MediaSource, utc_iso
from facesift.reports.output import csv_cell
from facesift.reports.text import (
    UserText,
    as_is,
    box_text,
    candidates_text,
    decision_caption,
    group_verification_caption,
    quality_text,
    rate_text,
)
from facesift.workflows.results import (
    Candidate,
    Decision,
    FaceMatches,
    IdentifyResult,
    SearchResult,
    SeenBefore,
    Timeline,
    TrackMatches,
)

CANDIDATES_HEADER = "candidates: score, estimated FMR, band (* = above threshold)"
NO_CANDIDATES = "(gallery empty)"


@dataclass(frozen=True)
class Column:
    """A column's heading and layout: numbers align right; `fold` columns (paths, lists of
    candidates) wrap anywhere rather than being cut short."""

    header: str
    justify: Literal["left", "right"] = "left"
    fold: bool = False


@dataclass(frozen=True)
class TextTable:
    """Rows of text under columns, with an optional title and caption; cells may hold
    several lines."""

    columns: list[Column]
    rows: list[list[str]] = field(default_factory=list)
    title: str | None = None
    caption: str | None = None


def _columns(*headers: str) -> list[Column]:
    return [Column(h) for h in headers]


def faces_table(
    title: str, faces: Iterable[FaceMatches], decision: Decision, text: UserText = as_is
) -> TextTable:
    """Faces, each with where it is, its quality and its ranked candidates: stored faces by
    their id (what `facesift review` takes), faces found just now numbered from 1; the
    caption gives the threshold and how to read the scores."""
    faces = list(faces)
    stored = any(f.face_id is not None for f in faces)
    table = TextTable(
        [Column("face id" if stored else "#", "right"), Column("where", fold=True),
         Column("quality"), Column(CANDIDATES_HEADER, fold=True)],
        title=title, caption=decision_caption(decision),
    )  # fmt: skip
    for k, face in enumerate(faces, start=1):
        where = box_text(face.bbox)
        if face.source.path is not None:
            where = f"{text(face.source.path)}\n[{where}]"
        if face.source.media_sources:
            where += "\n" + sources_text(face.source.media_sources, text)
        candidates = candidates_text(face.candidates, text) or NO_CANDIDATES
        number = str(face.face_id) if face.face_id is not None else str(k)
        table.rows.append([number, where, quality_text(face.quality), candidates])
    return table


def tracks_table(
    title: str, tracks: Iterable[TrackMatches], decision: Decision, text: UserText = as_is
) -> TextTable:
    """Video tracks: when each person appears, how many faces, the best shot to look at, and
    the candidates; the caption as in faces_table."""
    table = TextTable(
        [Column("track", "right"), Column("when (s)", fold=True), Column("faces", "right"),
         Column("best shot", fold=True), Column(CANDIDATES_HEADER, fold=True)],
        title=title, caption=decision_caption(decision),
    )  # fmt: skip
    for track in tracks:
        shot = track.best_shot.to_dict() if track.best_shot else {}
        where = f"frame {shot.get('frame_index')} at {shot.get('timestamp')} s\n" + box_text(
            shot.get("bbox", [])
        )
        when = f"{track.start:.3f}–{track.end:.3f}\nframes {track.start_frame}–{track.end_frame}"
        if track.source.path is not None:
            when = f"{text(Path(track.source.path).name)}\n{when}"
        if track.source.media_sources:
            when += "\n" + sources_text(track.source.media_sources, text)
        candidates = candidates_text(track.candidates, text) or NO_CANDIDATES
        number = str(track.number)
        if track.track_id is not None:  # stored: what `facesift review track:ID` takes
            number += f"\ntrack:{track.track_id}"
        table.rows.append([number, when, str(track.faces), where, candidates])
    return table


def people_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """The gallery's people (the JSON form of each), with their metadata as key=value."""
    table = TextTable(_columns("name", "faces", "attributes"))
    for r in rows:
        attributes = ", ".join(f"{k}={v}" for k, v in r["attributes"].items())
        table.rows.append([text(r["name"]), str(r["faces"]), text(attributes)])
    return table


def history_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """The gallery's corrections (the JSON form of each): when, by whom, what, and why."""
    table = TextTable(_columns("when", "who", "action", "person", "faces", "note"))
    for r in rows:
        table.rows.append(
            [str(r["at"]), text(r["actor"]), r["action"], text(r["person"]),
             ", ".join(map(str, r["face_ids"])), text(r["note"] or "")]
        )  # fmt: skip
    return table


def media_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """Stored media (the JSON form of each): file, kind, SHA-256 (its first 12 digits), size,
    dimensions, faces, and the status with any error."""
    table = TextTable(_columns("path", "kind", "sha256", "size", "W×H", "faces", "status"))
    for r in rows:
        dims = f"{r['width']}×{r['height']}" if r["width"] else ""
        status = f"{r['status']}: {r['error']}" if r["error"] else r["status"]
        table.rows.append(
            [text(r["path"]), r["kind"], r["sha256"][:12], str(r["size"]), dims,
             str(r["faces"]), text(status)]
        )  # fmt: skip
    return table


def stored_faces_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """Stored faces (the JSON form of each): id, file, frame and time in a video, box,
    quality, width in pixels, and the person where enrolled."""
    table = TextTable(_columns("id", "path", "frame @ s", "box", "quality", "px", "person"))
    for r in rows:
        at = "" if r["timestamp"] is None else f"{r['frame_index']} @ {r['timestamp']:.3f}"
        table.rows.append(
            [str(r["id"]), text(r["path"]), at, box_text(r["bbox"]), f"{r['quality']:.2f}",
             f"{r['face_px']:.0f}", text(r["person"] or "")]
        )  # fmt: skip
    return table


def group_verification_table(data: Mapping[str, Any], text: UserText = as_is) -> TextTable:
    """Per-group verification rates (`verification_by_group`'s report), one row a group."""
    headers = ("group", "people", "photos", "different pairs", "FMR at threshold",
               "FMR at calibrated 1e-3", "TAR at threshold", "median different",
               "TAR at true 1e-3")  # fmt: skip
    table = TextTable(
        [Column(h, "left" if h == "group" else "right") for h in headers],
        title="per group (all pairs within each group)",
        caption=group_verification_caption(data),
    )
    for row in data["rows"]:
        table.rows.append(
            [text(row["group"]), str(row["identities"]), str(row["photos"]),
             f"{row['impostor_pairs']:,}", rate_text(row["fmr_at_threshold"]),
             rate_text(row["fmr_at_calibrated_1e3"]), rate_text(row["tar_at_threshold"]),
             rate_text(row["median_impostor_score"]), rate_text(row["tar_at_true_fmr_1e3"])]
        )  # fmt: skip
    return table


def group_identification_table(data: Mapping[str, Any], text: UserText = as_is) -> TextTable:
    """Per-group identification rates at the threshold (`identification_by_group`'s report)."""
    headers = ("group", "mated", "non-mated", "rank-1", "FNIR", "FPIR")
    table = TextTable(
        [Column(h, "left" if h == "group" else "right") for h in headers],
        title=f"per group, at threshold {data['threshold']}",
    )
    for row in data["rows"]:
        table.rows.append(
            [text(row["group"]), str(row["mated"]), str(row["non_mated"]), rate_text(row["rank1"]),
             rate_text(row["fnir_at_threshold"]), rate_text(row["fpir_at_threshold"])]
        )  # fmt: skip
    return table


def models_table(report: Mapping[str, Any]) -> TextTable:
    """The bundled models of `workflows.doctor.environment_report`, with their SHA-256."""
    table = TextTable(_columns("model", "sha256", "path"), title="Bundled models")
    for model in report["bundled_models"]:
        table.rows.append([model["name"], model["sha256"], model["path"]])
    return table


# One row per candidate of each face (photo) or track (video); the head describes the face.
CANDIDATE_COLUMNS = [
    "face_id", "path", "sha256", "x1", "y1", "x2", "y2", "quality", "rank", "person", "score",
    "fmr", "band", "above_threshold", "track_id", "start", "end", "frame_index",
    "source_urls", "post_ids", "posted_at", "captured_at",
]  # fmt: skip


def sources_text(sources: Iterable[MediaSource], text: UserText = as_is) -> str:
    """The posts and captures a file was seen in, a line each (empty when none is known)."""
    return "\n".join(text(s.label) + (f"\n{text(s.url)}" if s.url else "") for s in sources)


def source_cells(sources: Sequence[MediaSource]) -> list[str]:
    """The CSV cells of a file's posts and captures (several joined by " | ")."""
    return [
        " | ".join(s.url or "" for s in sources),
        " | ".join(s.post_id or "" for s in sources),
        " | ".join(utc_iso(s.posted_at) or "" for s in sources),
        " | ".join(utc_iso(s.captured_at) or "" for s in sources),
    ]


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
    seen: Sequence[MediaSource] = ()
    if isinstance(result, SearchResult):
        fallback = {"path": result.image, "sha256": result.sha256}
        seen = result.media_sources
    for face in result.faces:
        source = face.source.to_dict() or fallback
        head = [face.face_id, source.get("path"), source.get("sha256"),
                *(round(v, 1) for v in face.bbox), round(face.quality.score, 3)]  # fmt: skip
        blank: list[Any] = ["", "", "", ""]
        yield from _with_candidates(
            head, face.candidates, blank + source_cells(face.source.media_sources or seen)
        )
    for track in result.tracks or []:
        source = track.source.to_dict() or fallback
        shot = track.best_shot.to_dict() if track.best_shot else {}
        head = [shot.get("face_id", ""), source.get("path"), source.get("sha256"),
                *shot.get("bbox", ["", "", "", ""]), shot.get("quality", "")]  # fmt: skip
        seen_in = source_cells(track.source.media_sources or seen)
        tail = [track.track_id, round(track.start, 3), round(track.end, 3),
                shot.get("frame_index", ""), *seen_in]  # fmt: skip
        yield from _with_candidates(head, track.candidates, tail)


def _with_candidates(
    head: list[Any], candidates: list[Candidate], tail: list[Any]
) -> Iterator[list[Any]]:
    if not candidates:
        yield [*head, "", "", "", "", "", "", *tail]
    for rank, c in enumerate(candidates, start=1):
        fmr = "" if c.fmr is None else f"{c.fmr:.3g}"
        yield [*head, rank, c.person, round(c.score, 4), fmr, c.band, c.above_threshold, *tail]


def clusters_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """Clusters of unknown people (the JSON form of each): size, files, time span, best face,
    and where their faces are."""
    table = TextTable(
        _columns("cluster", "state", "faces", "seen", "media", "when", "best face", "files")
    )
    for r in rows:
        span = f"{r['start']} – {r['end']}" if r["start"] else ""
        files = sorted({f["source"]["path"] for f in r["faces"]})
        shown = [text(Path(p).name) for p in files[:4]] + (
            [f"… {len(files) - 4} more"] if len(files) > 4 else []
        )
        state = r["state"] + (f": {text(r['person'])}" if r["person"] else "")
        table.rows.append(
            [str(r["cluster_id"]), state, str(r["size"]), str(r["appearances"]), str(r["media"]),
             span, str(r["representative_face_id"]), "\n".join(shown)]
        )  # fmt: skip
    return table


def cluster_faces_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """The faces of one cluster (their JSON form): id, file, frame, box, quality, track."""
    table = TextTable(_columns("face", "file", "frame", "time (s)", "box", "quality", "track"))
    for r in rows:
        source = r["source"]
        when = "" if source["timestamp"] is None else f"{source['timestamp']:.2f}"
        seen = [MediaSource.from_dict(m) for m in source.get("media_sources", [])]
        where = text(source["path"]) + ("\n" + sources_text(seen, text) if seen else "")
        table.rows.append(
            [str(r["face_id"]), where, str(source["frame_index"]), when,
             ", ".join(f"{v:.0f}" for v in r["bbox"]), f"{r['quality']:.2f}",
             "" if r["track_id"] is None else str(r["track_id"])]
        )  # fmt: skip
    return table


def cluster_operations_table(
    rows: Iterable[Mapping[str, Any]], text: UserText = as_is
) -> TextTable:
    """Changes of the clusters (their JSON form): id, when, who, what, and what undid it."""
    table = TextTable(_columns("operation", "when", "who", "action", "what", "undone by"))
    for r in rows:
        table.rows.append(
            [str(r["operation_id"]), str(r["at"]), text(r["actor"]), r["action"],
             text(r["summary"]), "" if r["undone_by"] is None else str(r["undone_by"])]
        )  # fmt: skip
    return table


def cooccurrence_table(data: Mapping[str, Any], text: UserText = as_is) -> TextTable:
    """Who appears with a person or cluster (a co-occurrence's JSON form), most often first."""
    table = TextTable(
        _columns("with", "kind", "files", "moments", "where"),
        title=f"Seen with {text(data['subject'])} ({data['appearances']} appearance(s))",
        caption=f"video: faces within {data['window_s']:g} s of each other; people: gallery "
        f"faces and faces matched at the decision threshold {data['threshold']:.3f}",
    )
    for c in data["companions"]:
        where = [
            text(Path(m["path"]).name)
            + (" at " + ", ".join(f"{t:.1f} s" for t in m["moments"]) if m["moments"] else "")
            for m in c["media"]
        ]
        table.rows.append(
            [text(c["name"]), c["kind"], str(c["count"]), str(c["moments"]), "\n".join(where)]
        )
    return table


def users_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """Accounts (their JSON form): name, role, whether disabled, since when."""
    table = TextTable(_columns("name", "role", "state", "created"))
    for r in rows:
        state = "disabled" if r["disabled"] else "active"
        table.rows.append([text(r["name"]), r["role"], state, r["created_at"][:19]])
    return table


def decisions_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """Review decisions (their JSON form): what, who, what they saw, and the second check."""
    table = TextTable(
        _columns("id", "face/track", "person", "verdict", "reviewer", "when", "shown", "check")
    )
    for r in rows:
        target = f"track:{r['track_id']}" if r["track_id"] is not None else str(r["face_id"])
        shown = r["shown"]
        seen = f"score {shown['score']:.3f}, rank {shown['rank']}, {shown['band']}"
        checks = [f"{c['outcome']} by {text(c['reviewer'])}" for c in r["checks"]]
        table.rows.append(
            [str(r["id"]), target, text(r["person"]), r["verdict"], text(r["reviewer"]),
             r["at"][:19], seen, "\n".join(checks) or r["status"]]
        )  # fmt: skip
    return table


def audit_table(rows: Iterable[Mapping[str, Any]], text: UserText = as_is) -> TextTable:
    """Audit entries (their JSON form): sequence, time, actor, action, objects, inputs."""
    table = TextTable(_columns("seq", "time (UTC)", "actor", "action", "objects", "inputs"))
    for r in rows:
        objects = ", ".join(f"{k} {v}" for k, v in r["objects"].items() if v is not None)
        inputs = ", ".join(
            f"{k} {str(v)[:12]}…" if k.endswith("sha256") else f"{k} {v}"
            for k, v in r["inputs"].items()
            if v is not None
        )
        table.rows.append(
            [str(r["seq"]), r["at"][:19], text(r["actor"]), r["action"], text(objects),
             text(inputs)]
        )  # fmt: skip
    return table


TIMELINE_COLUMNS = [
    "when", "when_basis", "source_kind", "channel", "post_id", "url", "page_url", "posted_at",
    "edited_at", "captured_at", "author", "forwarded_from", "text", "archive_sha256",
    "record_id", "face_id", "track_id", "path", "sha256", "frame_index", "timestamp", "basis",
]  # fmt: skip


def timeline_csv(timeline: Timeline) -> str:
    """The timeline as CSV (cells a spreadsheet cannot run as formulas), a row an entry."""
    out = io.StringIO()
    write_csv([TIMELINE_COLUMNS, *(_timeline_row(e.to_dict()) for e in timeline.entries)], out)
    return out.getvalue()


def _timeline_row(row: dict[str, Any]) -> list[Any]:
    source = row["source"] or {}
    values = {**source, **row, "source_kind": source.get("kind")}
    return [values.get(k) for k in TIMELINE_COLUMNS]


def timeline_table(timeline: Timeline, title: str, text: UserText = as_is) -> TextTable:
    """A timeline for the terminal: when (and by what), the source, the face or track."""
    table = TextTable(
        [Column("when (UTC)", fold=True), Column("source", fold=True),
         Column("face", "right"), Column("file, frame", fold=True), Column("basis", fold=True)],
        title=title,
    )  # fmt: skip
    for entry in timeline.entries:
        row = entry.to_dict()
        when = f"{row['when'][:19].replace('T', ' ')}\n{row['when_basis']}" if row["when"] else "?"
        source = sources_text([entry.source], text) if entry.source else "(no source recorded)"
        where = text(Path(row["path"]).name)
        if row["timestamp"] is not None:
            where += f"\nframe {row['frame_index']} at {row['timestamp']:.2f} s"
        if row["track_id"] is not None:
            where += f"\ntrack:{row['track_id']}"
        table.rows.append([when, source, str(row["face_id"]), where, text(row["basis"])])
    return table


def seen_table(result: SeenBefore, title: str, text: UserText = as_is) -> TextTable:
    """Stored faces like each probe face: score, FMR and band, where, when, and source."""
    table = TextTable(
        [Column("probe face", fold=True), Column("stored face", "right"),
         Column("score, fmr, band"), Column("where", fold=True), Column("source", fold=True)],
        title=title, caption=decision_caption(result.decision),
    )  # fmt: skip
    for k, face in enumerate(result.faces, start=1):
        for hit in face.sightings or []:
            fmr = "" if hit.fmr is None else f" fmr {hit.fmr:.1e}"
            where = text(Path(hit.path).name)
            if hit.timestamp is not None:
                where += f"\nframe {hit.frame_index} at {hit.timestamp:.2f} s"
            table.rows.append(
                [f"{k} {box_text(face.bbox)}", str(hit.face_id),
                 f"{hit.score:.3f}{fmr}\n{hit.band}", where,
                 sources_text(hit.media_sources, text)]
            )  # fmt: skip
    return table
