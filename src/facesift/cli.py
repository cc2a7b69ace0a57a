"""The `facesift` command line: parse, call a Workspace operation, print."""

from __future__ import annotations

import contextlib
import json
import os
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console, JustifyMethod
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from facesift.errors import FacesiftError
from facesift.execution.cluster import RayCluster
from facesift.match.calibration import LOW_RES
from facesift.match.decision import DEFAULT_DECISION_FMR
from facesift.media.files import is_video
from facesift.media.video import DEFAULT_SAMPLE_FPS
from facesift.reports.annotate import annotated_photo
from facesift.reports.output import check_output, image_format, save_image, terminal_text
from facesift.reports.tables import (
    TextTable,
    audit_table,
    candidates_csv,
    cluster_faces_table,
    cluster_operations_table,
    clusters_table,
    cooccurrence_table,
    decisions_table,
    faces_table,
    group_identification_table,
    group_verification_table,
    history_table,
    media_table,
    models_table,
    people_table,
    seen_table,
    stored_faces_table,
    timeline_csv,
    timeline_table,
    tracks_table,
    users_table,
)
from facesift.reports.text import (
    calibration_fit_summary,
    calibration_fit_text,
    calibration_status_lines,
    environment_lines,
    failure_lines,
    failures_heading,
    frame_text,
    group_differential_lines,
    identification_report_lines,
    scan_summary,
    verification_report_lines,
    verification_text,
)
from facesift.store.milvus import MilvusIndexes
from facesift.vision.engine import FaceEngine
from facesift.workflows.cooccurrence import DEFAULT_WINDOW_S
from facesift.workflows.discovery import STATES
from facesift.workflows.metadata import read_people_metadata, unused_names
from facesift.workflows.results import Decision, FaceMatches, SearchResult, TrackMatches
from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY
from facesift.workflows.workspace import Workspace

if TYPE_CHECKING:
    pass

T = TypeVar("T")

app = typer.Typer(
    help="Find and identify faces in photo and video collections, offline. Scores are evidence "
    "for a human reviewer, not verdicts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
# Markup off: names and paths from the user's files are printed as they are, never as styles.
# Written to a file or a pipe, tables get room (rich would assume 80 columns and cut values
# short) unless COLUMNS says otherwise.
PIPED_WIDTH = 160
console = Console(
    markup=False,
    width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else PIPED_WIDTH,
)
errors = Console(stderr=True, soft_wrap=True, markup=False)


def _t(text: object) -> str:
    """User-controlled text (file and person names) for the terminal: control characters
    escaped, so a crafted name cannot move the cursor or rewrite what was printed."""
    return terminal_text(str(text))


def _labelled(out: Console, label: str, style: str, message: str) -> None:
    out.print(Text.assemble((label, style), " ", message), highlight=False, soft_wrap=True)


def _table(
    table: TextTable, *, lines: bool = False, title_justify: JustifyMethod = "left"
) -> Table:
    """A reports.tables table for the terminal; `lines` rules off rows of several lines."""
    out = Table(
        title=table.title, caption=table.caption, title_justify=title_justify, show_lines=lines
    )
    for column in table.columns:
        out.add_column(
            column.header, justify=column.justify, overflow="fold" if column.fold else "ellipsis"
        )
    for row in table.rows:
        out.add_row(*row)
    return out


def _print_lines(lines: list[str]) -> None:
    """Lines of reports.text, printed as they are (no number or path highlighting)."""
    for line in lines:
        console.print(line, highlight=False)


class Executor(StrEnum):
    local = "local"
    ray = "ray"


class State:
    workspace_dir: Path = Path("facesift-workspace")
    database_url: str | None = None
    milvus: str | None = None
    detector: str = "auto"
    embedder: str = "dlib"
    decision_fmr: float = DEFAULT_DECISION_FMR
    actor: str | None = None
    _workspace: Workspace | None = None

    @classmethod
    def engine(cls) -> FaceEngine:
        try:
            return FaceEngine(detector=cls.detector, embedder=cls.embedder)
        except FacesiftError as exc:
            raise _fail(str(exc)) from None

    @classmethod
    def workspace(cls) -> Workspace:
        if cls._workspace is None:
            try:
                cls._workspace = Workspace(
                    cls.workspace_dir,
                    engine=cls.engine(),
                    database_url=cls.database_url,
                    decision_fmr=cls.decision_fmr,
                    actor=cls.actor,
                    indexes=None if cls.milvus is None else MilvusIndexes(cls.milvus),
                )
            except (FacesiftError, OSError) as exc:
                raise _fail(str(exc)) from None
            operator = cls._workspace.context.actor
            account = cls._workspace.context.store.read(lambda tx: tx.accounts.get(operator))
            if account is not None and account.disabled:
                raise _fail(f"the account {operator!r} is disabled")
        return cls._workspace


@app.callback()
def _global(
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace folder (default: $FACESIFT_WORKSPACE, else ./facesift-workspace)",
            show_default=False,
        ),
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            envvar="FACESIFT_DATABASE_URL",
            help="SQLAlchemy URL of a shared database (e.g. PostgreSQL) instead of the "
            "workspace's SQLite file.",
        ),
    ] = None,
    milvus: Annotated[
        str | None,
        typer.Option(
            "--milvus",
            envvar="FACESIFT_MILVUS",
            help="Keep the gallery index in Milvus: a Milvus Lite file (path ending .db) or a "
            "server's URI (http://host:19530), instead of FAISS files in the workspace.",
        ),
    ] = None,
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            help="auto (cnn where ONNX Runtime has a GPU, else mtcnn, else hog), mtcnn (learned, "
            "fastest on a CPU; weights from the facenet-pytorch package), hog (dlib's frontal "
            "detector), cnn (dlib's MMOD network: turned faces too), or an SCRFD/YuNet .onnx file",
        ),
    ] = "auto",
    embedder: Annotated[
        str,
        typer.Option("--embedder", help="dlib (bundled ResNet) or an ArcFace/SFace .onnx file"),
    ] = "dlib",
    decision_fmr: Annotated[
        float,
        typer.Option(
            "--decision-fmr",
            min=1e-9,
            max=1.0,
            help="Estimated false-match rate at which a match counts as above the threshold "
            "(same_person, *); turned into a score by the calibration in force.",
        ),
    ] = DEFAULT_DECISION_FMR,
    acting_as: Annotated[
        str | None,
        typer.Option(
            "--as",
            envvar="FACESIFT_ACTOR",
            help="Who is acting: named in the audit log with every search and change "
            "(default: the operating-system user).",
            show_default=False,
        ),
    ] = None,
) -> None:
    State.detector, State.embedder = detector, embedder
    State.actor = acting_as
    State.decision_fmr = decision_fmr
    State.workspace_dir = workspace or Path(
        os.environ.get("FACESIFT_WORKSPACE") or "facesift-workspace"
    )
    State.database_url = database_url
    State.milvus = milvus
    State._workspace = None


def _save_image(picture: Any, out: Path, source: Path, force: bool) -> None:
    try:
        save_image(picture, out, inputs=[source], force=force)
    except (FacesiftError, OSError, ValueError) as exc:
        raise _fail(f"{out}: cannot write the image: {exc}") from None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _fail(message: str, code: int = 1) -> typer.Exit:
    _labelled(errors, "error:", "red", _t(message))
    return typer.Exit(code)


STATUS_STYLE = {
    "enrolled": "green",
    "already_enrolled": "green",
    "no_face": "yellow",
    "ambiguous": "yellow",
    "conflict": "red",
    "unreadable": "red",
}


@app.command()
def enroll(
    paths: Annotated[
        list[Path] | None, typer.Argument(help="Photos, or a folder of Name/ subfolders")
    ] = None,
    person: Annotated[
        str | None, typer.Option("--person", "-p", help="Enrol the given photos as this person")
    ] = None,
    meta: Annotated[
        Path | None, typer.Option("--meta", help="CSV of people: name + any metadata columns")
    ] = None,
    remove: Annotated[
        int | None,
        typer.Option("--remove", help="Unenrol this face id (a mistaken enrolment) instead"),
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="With --remove: why")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Add known people to the gallery (or, with --remove FACE_ID, take a face out)."""
    if remove is not None:
        try:
            name = State.workspace().unenroll_face(remove, actor=_operator(), note=note)
        except FacesiftError as exc:
            raise _fail(str(exc)) from None
        console.print(f"Face {remove} is no longer enrolled as {_t(name)}.", highlight=False)
        return
    if not paths:
        raise _fail("give photos, or a folder of Name/ subfolders")
    try:
        metadata = read_people_metadata(meta) if meta else {}
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    ws = State.workspace()
    try:
        if person:
            outcomes = ws.enroll(person, paths, metadata.get(person))
        else:
            outcomes = []
            for root in paths:
                if not root.is_dir():
                    raise _fail(f"{root}: not a folder; use --person NAME to enrol single photos")
                outcomes.extend(ws.enroll_folder(root, metadata))
    except (FacesiftError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json([o.to_dict() for o in outcomes])
    else:
        for o in outcomes:
            style = STATUS_STYLE.get(o.status, "white")
            _labelled(
                console, f"{o.status:<16}", style, f"{_t(o.person):<24} {_t(o.path)}  {o.message}"
            )
        enrolled = sum(o.ok for o in outcomes)
        console.print(f"{enrolled} of {len(outcomes)} photos in the gallery.")
    unmatched = unused_names(metadata, (o.person for o in outcomes))
    if unmatched:
        _labelled(
            errors, "not used:", "yellow",
            f"--meta rows for people not enrolled here: {', '.join(map(_t, unmatched))}",
        )  # fmt: skip
    if not any(o.ok for o in outcomes):
        raise typer.Exit(1)


SampleFps = Annotated[
    float,
    typer.Option("--fps", min=0.01, help="Video frames analysed per second of video"),
]
EveryFrame = Annotated[
    bool, typer.Option("--every-frame", help="Analyse every video frame (overrides --fps)")
]
FullScanEvery = Annotated[
    float,
    typer.Option(
        "--full-scan-every",
        min=0.0,
        help="Seconds between full searches of a video frame for small faces; frames between "
        "are searched near the small faces already seen (0: every sampled frame in full)",
    ),
]


@app.command()
def scan(
    paths: Annotated[
        list[Path],
        typer.Argument(
            help="Photos, videos, folders (searched recursively), Telegram Desktop exports "
            "(folders with result.json) and WACZ web archives"
        ),
    ],
    case: Annotated[
        str | None, typer.Option("--case", "-c", help="Case to file them under")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", min=1, help="Parallel analysis processes (default: one per core)"
        ),
    ] = None,
    fps: SampleFps = DEFAULT_SAMPLE_FPS,
    every_frame: EveryFrame = False,
    full_scan_every: FullScanEvery = DEFAULT_FULL_SCAN_EVERY,
    skip_hidden: Annotated[
        bool, typer.Option("--skip-hidden", help="Leave hidden files and folders out")
    ] = False,
    executor: Annotated[
        Executor,
        typer.Option(
            "--executor",
            help="Where photos and video frames are analysed: local worker processes, or the "
            "workers of a Ray cluster (a local Ray instance unless --ray-address).",
        ),
    ] = Executor.local,
    ray_address: Annotated[
        str | None,
        typer.Option(
            "--ray-address",
            help="Ray cluster to analyse on with --executor ray (e.g. ray://head:10001, or "
            "auto for the cluster this machine belongs to; default: $RAY_ADDRESS, else a "
            "Ray instance started on this machine).",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Find and store every face in photos and videos (video faces linked into tracks),
    with their source post or capture when they come from a Telegram export or a WACZ.
    Reruns skip stored files and resume videos: Ctrl-C, then rerun. Exit status: 0 when
    every file found was analysed (or was already), 3 when some failed, 4 when no photo or
    video was found, 130 when interrupted."""
    ws = State.workspace()
    if ray_address is not None and executor is not Executor.ray:
        raise _fail("--ray-address is for --executor ray")
    factory = RayCluster(ray_address) if executor is Executor.ray else None
    bar, progress, video_progress = _scan_progress(not as_json)
    with bar:
        try:
            report = ws.scan(
                paths,
                case=case,
                progress=progress,
                workers=workers,
                fps=None if every_frame else fps,
                full_scan_every=full_scan_every,
                video_progress=video_progress,
                skip_hidden=skip_hidden,
                executor=factory,
            )
        except (FacesiftError, FileNotFoundError) as exc:
            raise _fail(str(exc)) from None
    if as_json:
        _print_json(report.to_dict())
    else:
        for path, reason in report.errors:
            _labelled(errors, "skipped", "red", f"{_t(path)}: {_t(reason)}")
        for path, reason in report.partial:
            _labelled(errors, "partly read", "yellow", f"{_t(path)}: {_t(reason)}")
        for path, reason in report.skipped:
            _labelled(errors, "not analysed", "yellow", f"{_t(path)}: {_t(reason)}")
        for path, reason in report.warnings:
            _labelled(errors, "warning", "yellow", f"{_t(path)}: {_t(reason)}")
        for media, reason in report.not_included:
            _labelled(errors, "not in export", "yellow", f"{_t(media)}: {_t(reason)}")
        console.print(scan_summary(report, _t), highlight=False)
    if report.interrupted:
        errors.print("Interrupted: what was analysed is saved; run the same command to resume.")
        raise typer.Exit(130)
    if report.errors:
        raise typer.Exit(3)
    if not report.files:
        errors.print("No photo or video found.")
        raise typer.Exit(4)


def _scan_progress(
    enabled: bool,
) -> tuple[Progress, Callable[[Path, int, int], None], Callable[[Path, float, float | None], None]]:
    """Bars on the terminal for a scan: files done, and the seconds read of the current video."""
    bar = Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeRemainingColumn(),
        TextColumn("{task.description}", markup=False),
        console=errors,
        transient=True,
        disable=not enabled or not errors.is_terminal,
    )
    files = bar.add_task("", total=None, label="files", count="")
    video = bar.add_task("", total=None, label="video", count="", visible=False)

    def progress(path: Path, done: int, total: int) -> None:
        bar.update(
            files, completed=done, total=total, description=_t(path.name)[:40],
            count=f"{done}/{total}",
        )  # fmt: skip
        bar.update(video, visible=False)

    def video_progress(path: Path, seconds: float, duration: float | None) -> None:
        shown = f"{seconds:.0f}/{duration:.0f} s" if duration else f"{seconds:.0f} s"
        bar.update(files, description=_t(path.name)[:40])
        bar.update(
            video, completed=seconds, total=duration, description=_t(path.name)[:40],
            count=shown, visible=True,
        )  # fmt: skip

    return bar, progress, video_progress


def _print_warnings(decision: Decision) -> None:
    """The warnings every result carries (e.g. a population mismatch), before the result."""
    for warning in decision.warnings:
        _labelled(console, "warning:", "bold yellow", warning)


@app.command()
def search(
    image: Annotated[Path, typer.Argument(help="Photo or video to search")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Candidates per face")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    annotate: Annotated[
        Path | None,
        typer.Option("--annotate", help="Photo: write a copy with boxes and names (a new file)"),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Let --annotate replace an existing file")
    ] = False,
    fps: SampleFps = DEFAULT_SAMPLE_FPS,
    every_frame: EveryFrame = False,
    full_scan_every: FullScanEvery = DEFAULT_FULL_SCAN_EVERY,
) -> None:
    """Every face in a photo or video with its ranked gallery candidates; for a video also
    every track (one person's continuous appearance). Nothing is stored."""
    ws = State.workspace()
    if annotate is not None and is_video(image):
        raise _fail("--annotate is for photos; for a video frame use: facesift frame VIDEO --at S")
    if annotate is not None:
        try:  # before the search, so that a wrong name loses no work
            check_output(annotate, inputs=[image], force=force)
            image_format(annotate)
        except FacesiftError as exc:
            raise _fail(str(exc)) from None
    try:
        result = ws.search(
            image, top=top, fps=None if every_frame else fps, full_scan_every=full_scan_every
        )
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if annotate is not None:
        _save_image(annotated_photo(result, image), annotate, image, force)
        ws.record_export("annotated", sha256=result.sha256, out=str(annotate), details={})
    if as_json:
        _print_json(result.to_dict())
    else:
        _print_search(image, result, annotate)


def _print_search(image: Path, result: SearchResult, annotate: Path | None) -> None:
    """A search for the terminal: warnings first, then the faces, or a video's tracks."""
    _print_warnings(result.decision)
    if not result.faces:
        console.print(f"No face found in {_t(image)}.", highlight=False)
        return
    if result.tracks is not None:
        if result.video and result.video.get("error"):
            _labelled(errors, "partly read", "yellow", f"{_t(image)}: {result.video['error']}")
        title = f"{_t(image)}: {len(result.tracks)} track(s), {len(result.faces)} face(s)"
        _print_tracks(title, result.tracks, result.decision)
        return
    _print_faces(f"{_t(image)}: {len(result.faces)} face(s)", result.faces, result.decision)
    if annotate is not None:
        console.print(f"Annotated copy written to {_t(annotate)}", highlight=False)


@app.command()
def identify(
    case: Annotated[str | None, typer.Option("--case", "-c", help="Only this case")] = None,
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Candidates per face")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV, one row per candidate")] = False,
) -> None:
    """Every scanned face against the gallery: photo faces one by one, video faces by track."""
    ws = State.workspace()
    try:
        result = ws.identify(case=case, top=top)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
    elif as_csv:
        sys.stdout.write(candidates_csv(result))
    else:
        _print_warnings(result.decision)
        where = f" in case {case}" if case else ""
        if result.faces or not result.tracks:
            _print_faces(f"{len(result.faces)} photo face(s){where}", result.faces, result.decision)
        if result.tracks:
            title = f"{len(result.tracks)} video track(s){where}"
            _print_tracks(title, result.tracks, result.decision)


def _print_faces(title: str, faces: list[FaceMatches], decision: Decision) -> None:
    """Faces and their candidates, one ruled-off row a face (the candidates take lines)."""
    console.print(_table(faces_table(title, faces, decision, _t), lines=True))


def _print_tracks(title: str, tracks: list[TrackMatches], decision: Decision) -> None:
    """Video tracks and their candidates, one ruled-off row a track."""
    console.print(_table(tracks_table(title, tracks, decision, _t), lines=True))


@app.command()
def frame(
    video: Annotated[Path, typer.Argument(help="Video file")],
    out: Annotated[Path, typer.Option("--out", "-o", help="Image file to write (PNG, JPEG)")],
    at: Annotated[
        float | None, typer.Option("--at", min=0.0, help="Time in seconds from the start")
    ] = None,
    index: Annotated[
        int | None, typer.Option("--index", min=0, help="Frame number (0 is the first)")
    ] = None,
    boxes: Annotated[bool, typer.Option("--boxes", help="Draw the faces in the frame")] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Extract the evidence frame of a video (by time or frame number), with its faces.

    The faces are the ones stored by a scan of this video (same SHA-256), else detected now."""
    if (at is None) == (index is None):
        raise _fail("give --at SECONDS or --index N")
    ws = State.workspace()
    try:
        check_output(out, inputs=[video], force=force)
        image_format(out)
        shot = ws.evidence_frame(video, seconds=at, index=index)
    except (FacesiftError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    _save_image(shot.image(boxes), out, video, force)
    ws.record_export(
        "frame",
        sha256=shot.sha256,
        out=str(out),
        details={"frame_index": shot.frame.index, "timestamp": shot.frame.timestamp},
    )
    if as_json:
        _print_json({**shot.to_dict(), "out": str(out)})
    else:
        console.print(frame_text(shot, video, out, _t), highlight=False)


@app.command()
def verify(
    image_a: Annotated[Path, typer.Argument(help="First photo")],
    image_b: Annotated[Path, typer.Argument(help="Second photo")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Compare the main faces of two photos (1:1)."""
    ws = State.workspace()
    try:
        result = ws.verify(image_a, image_b)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
        return
    _print_warnings(result.decision)
    console.print(verification_text(result), highlight=False)
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(result.decision.note, style="dim", highlight=False)


people_app = typer.Typer(
    help="The gallery's people: list them (no subcommand), remove one, see corrections.",
    invoke_without_command=True,
)
app.add_typer(people_app, name="people")


def _operator() -> str:
    """Who runs this command (`--as`, else the operating-system user), recorded with every
    change it makes."""
    return State.workspace().context.actor


@people_app.command("remove")
def people_remove(
    name: Annotated[str, typer.Argument(help="The person to take out of the gallery")],
    note: Annotated[str | None, typer.Option("--note", help="Why (recorded)")] = None,
) -> None:
    """Take a person out of the gallery; their faces stay stored as scanned faces."""
    try:
        faces = State.workspace().remove_person(name, actor=_operator(), note=note)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    console.print(f"Removed {_t(name)} ({len(faces)} face(s) unenrolled).", highlight=False)


@people_app.command("history")
def people_history(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Every correction of the gallery: when, by whom, what."""
    rows = [r.to_dict() for r in State.workspace().gallery_changes()]
    if as_json:
        _print_json(rows)
        return
    console.print(_table(history_table(rows, _t)))


@people_app.callback()
def people(ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the gallery's people."""
    if ctx.invoked_subcommand is not None:
        return
    rows = [r.to_dict() for r in State.workspace().people()]
    if as_json:
        _print_json(rows)
        return
    console.print(_table(people_table(rows, _t)))


# ------------------------------------------------------------------------ unknown people
CaseOption = Annotated[str | None, typer.Option("--case", "-c", help="The case (default: all)")]
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON")]


@app.command()
def cluster(
    case: CaseOption = None,
    full: Annotated[
        bool,
        typer.Option(
            "--full",
            help="Cluster again from scratch: clusters no analyst touched are dissolved "
            "(analysts' merges, splits, names and marks are kept)",
        ),
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Group the faces that match nobody in the gallery into unknown people.

    New faces join existing clusters or make new ones; nothing an analyst changed is undone.
    Two faces of one photo or video frame are never put together.
    """
    try:
        with (
            console.status("clustering unidentified faces", spinner="dots")
            if not as_json
            else contextlib.nullcontext()
        ):
            result = State.workspace().cluster(case=case, actor=_operator(), full=full)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
        return
    _print_clusters(result.to_dict())


def _print_clusters(data: dict[str, Any]) -> None:
    where = f" in case {_t(data['case'])}" if data["case"] else ""
    algorithm = data.get("algorithm")
    caption = None
    if algorithm:
        fmr = f" (estimated FMR per pair {algorithm['fmr']:.1e})" if algorithm["fmr"] else ""
        caption = (
            f"{algorithm['name']} at score {algorithm['threshold']:.3f}{fmr}, "
            f"{algorithm['mode']}, {data['elapsed_s']:.1f} s. Clusters are leads: review "
            "them side by side before naming one"
        )
    table = clusters_table(data["clusters"], _t)
    console.print(
        _table(
            TextTable(
                table.columns,
                table.rows,
                f"{len(data['clusters'])} cluster(s) of unknown people{where}; "
                f"{len(data['unclustered'])} unidentified face(s) in no cluster",
                caption,
            ),
            lines=True,
        )
    )


clusters_app = typer.Typer(
    help="Unknown people: list, show, merge, split, name, mark, undo (each change recorded "
    "with who made it).",
    invoke_without_command=True,
)
app.add_typer(clusters_app, name="clusters")


@clusters_app.callback()
def clusters_list(
    ctx: typer.Context,
    case: CaseOption = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also named, ignored and not-a-face clusters")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """List the clusters of unknown people, most often seen first."""
    if ctx.invoked_subcommand is not None:
        return
    states = STATES if show_all else ("open",)
    try:
        data = State.workspace().clusters(case=case, states=states).to_dict()
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(data)
        return
    _print_clusters(data)


def _cluster_change(as_json: bool, change: Callable[[Workspace], Any]) -> None:
    try:
        result = change(State.workspace())
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
        return
    console.print(f"Operation {result.operation_id}: {_t(result.summary)}.", highlight=False)


ClusterId = Annotated[int, typer.Argument(help="Cluster id")]


@clusters_app.command("show")
def clusters_show(
    cluster_id: ClusterId, case: CaseOption = None, as_json: JsonOption = False
) -> None:
    """One cluster and all its faces."""
    try:
        data = State.workspace().cluster_view(cluster_id, case=case).to_dict()
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(data)
        return
    table = cluster_faces_table(data["faces"], _t)
    title = (
        f"cluster {cluster_id} ({data['state']}): {data['size']} face(s) in {data['media']} file(s)"
    )
    console.print(_table(TextTable(table.columns, table.rows, title)))


@clusters_app.command("merge")
def clusters_merge(
    into: Annotated[int, typer.Argument(help="The cluster that stays")],
    other: Annotated[int, typer.Argument(help="The cluster whose faces move into it")],
    case: CaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Merge two clusters (the same person)."""
    _cluster_change(
        as_json, lambda ws: ws.merge_clusters(into, other, case=case, actor=_operator())
    )


@clusters_app.command("split")
def clusters_split(
    cluster_id: ClusterId,
    faces: Annotated[list[int], typer.Argument(help="Ids of the faces to move to a new cluster")],
    case: CaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Move faces out of a cluster into a new one (another person)."""
    _cluster_change(
        as_json, lambda ws: ws.split_cluster(cluster_id, faces, case=case, actor=_operator())
    )


@clusters_app.command("name")
def clusters_name(
    cluster_id: ClusterId,
    person: Annotated[str, typer.Argument(help="Who it is: their faces join the gallery")],
    case: CaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Name a cluster: its faces are enrolled as that person, so searches find them."""
    _cluster_change(
        as_json, lambda ws: ws.name_cluster(cluster_id, person, case=case, actor=_operator())
    )


@clusters_app.command("mark")
def clusters_mark(
    cluster_id: ClusterId,
    state: Annotated[str, typer.Argument(help="ignored, not_a_face, or open")],
    case: CaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Mark a cluster ignored or not a face (hidden from listings), or open again."""
    _cluster_change(
        as_json, lambda ws: ws.mark_cluster(cluster_id, state, case=case, actor=_operator())
    )


@clusters_app.command("undo")
def clusters_undo(
    operation: Annotated[int, typer.Argument(help="The operation to undo (see `clusters log`)")],
    case: CaseOption = None,
    as_json: JsonOption = False,
) -> None:
    """Undo a merge, split, naming or mark."""
    _cluster_change(
        as_json, lambda ws: ws.undo_cluster_operation(operation, case=case, actor=_operator())
    )


@clusters_app.command("log")
def clusters_log(case: CaseOption = None, as_json: JsonOption = False) -> None:
    """Every change of the clusters: when, by whom, what."""
    try:
        rows = [r.to_dict() for r in State.workspace().cluster_operations(case=case)]
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(rows)
        return
    console.print(_table(cluster_operations_table(rows, _t)))


@app.command()
def cooccur(
    subject: Annotated[str, typer.Argument(help="A gallery person's name, or cluster:ID")],
    case: CaseOption = None,
    window: Annotated[
        float, typer.Option("--window", help="Seconds apart in a video that count as together")
    ] = DEFAULT_WINDOW_S,
    as_json: JsonOption = False,
) -> None:
    """Who appears together with a person or an unknown-person cluster, and where."""
    try:
        data = State.workspace().cooccur(subject, case=case, window=window).to_dict()
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(data)
        return
    console.print(_table(cooccurrence_table(data, _t), lines=True))


@app.command("seen")
def seen_command(
    image: Annotated[Path, typer.Argument(help="Photo with the face(s) to look for")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Stored faces per face")] = 20,
    as_json: JsonOption = False,
) -> None:
    """Where else does this face appear? Each face of the photo against every stored face
    (all cases, not just the gallery): the most similar, with file, frame, time and source."""
    try:
        result = State.workspace().seen_before(image, top=top)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
        return
    _print_warnings(result.decision)
    title = f"{_t(image)}: {len(result.faces)} face(s) against {result.stored_faces} stored"
    console.print(_table(seen_table(result, title, _t), lines=True))


@app.command()
def timeline(
    subject: Annotated[str, typer.Argument(help="A gallery person's name, or cluster:ID")],
    case: CaseOption = None,
    leads: Annotated[
        bool,
        typer.Option(
            "--leads", help="Also faces matching the person at the threshold, not yet reviewed"
        ),
    ] = False,
    as_json: JsonOption = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV, one row per entry")] = False,
) -> None:
    """Where and when a person or an unknown-person cluster was seen: their enrolled and
    confirmed appearances in order of the time each source post was made (else captured,
    else the EXIF time), with the post or page it came from."""
    try:
        result = State.workspace().timeline(subject, case=case, leads=leads)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
    elif as_csv:
        sys.stdout.write(timeline_csv(result))
    else:
        title = f"{result.appearances} appearance(s) of {_t(subject)}"
        title += f" in case {_t(case)}" if case else ""
        console.print(_table(timeline_table(result, title, _t), lines=True))


@app.command()
def media(
    case: Annotated[str | None, typer.Option("--case", "-c")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored media with their SHA-256 and face counts."""
    rows = [r.to_dict() for r in State.workspace().media(case)]
    if as_json:
        _print_json(rows)
        return
    console.print(_table(media_table(rows, _t)))


@app.command()
def faces(
    person: Annotated[str | None, typer.Option("--person", "-p")] = None,
    case: Annotated[str | None, typer.Option("--case", "-c")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored faces."""
    rows = [r.to_dict() for r in State.workspace().faces(person=person, case=case)]
    if as_json:
        _print_json(rows)
        return
    console.print(_table(stored_faces_table(rows, _t)))


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the models (with weights hashes), runtimes, providers and threads in use."""
    from facesift.workflows.doctor import environment_report

    report = environment_report(State.engine())
    if as_json:
        _print_json(report)
        return
    console.print(_table(models_table(report)))
    _print_lines(environment_lines(report))


def _count_progress(label: str, enabled: bool) -> tuple[Progress, Any]:
    bar = Progress(
        TextColumn(f"[bold]{label}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=errors,
        transient=True,
        disable=not enabled or not errors.is_terminal,
    )
    task = bar.add_task("", total=None)
    return bar, lambda done, total: bar.update(task, completed=done, total=total)


@app.command()
def calibrate(
    root: Annotated[Path, typer.Argument(help="Folder of per-identity subfolders of photos")],
    pairs: Annotated[
        Path | None,
        typer.Option("--pairs", help="Only the photos this pair file mentions (e.g. LFW DevTrain)"),
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the calibration here, not in the workspace")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Fit score -> estimated false-match rate on the different-person pairs of your own data:
    one map for standard comparisons, one for small probe faces against low-resolution
    templates (written beside the first with a .low-res suffix)."""
    from facesift.workflows.calibration import calibrate as fit
    from facesift.workflows.calibration import calibrate_low_res as fit_low_res

    ws = None if out else State.workspace()
    engine = ws.engine if ws else State.engine()
    fitted = {}
    try:
        for low_res, label, fitter in ((False, "calibrate", fit), (True, "low-res", fit_low_res)):
            bar, progress = _count_progress(label, not as_json)
            with bar:
                fitted[low_res] = fitter(engine, root, pairs_file=pairs, progress=progress)
    except (FacesiftError, FileNotFoundError, ValueError) as exc:
        raise _fail(str(exc)) from None
    summary: dict[str, Any] = {}
    for low_res, calibration in fitted.items():
        if out:
            target = out.with_name(out.stem + LOW_RES + out.suffix) if low_res else out
            calibration.save(target)
        else:
            assert ws is not None
            ws.save_calibration(calibration, low_res=low_res)
            target = ws.calibration_file(low_res)
        summary["low_res" if low_res else "standard"] = calibration_fit_summary(calibration, target)
    if as_json:
        _print_json(summary)
        return
    _print_lines([calibration_fit_text(kind, fit) for kind, fit in summary.items()])


@app.command("calibration")
def calibration_status(
    case: Annotated[str | None, typer.Option("--case", "-c", help="For this case")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Which calibration the FMRs come from: the shipped (or reference) one and the
    workspace's own, their sources, sizes and intervals, and any population warning."""
    ws = State.workspace()
    try:
        status = ws.calibration_status(case)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(status.to_dict())
        return
    _print_lines(calibration_status_lines(status))
    for warning in status.warnings:
        _labelled(console, "warning:", "bold yellow", warning)


evaluation = typer.Typer(help="Measure accuracy on labelled datasets.", no_args_is_help=True)
app.add_typer(evaluation, name="eval")


def _embedding_run(as_json: bool, work: Callable[[Callable[[int, int], None]], T]) -> T:
    """Run an evaluation with a progress bar over the photos it embeds; errors end the command."""
    bar, progress = _count_progress("embed", not as_json)
    try:
        with bar:
            return work(progress)
    except (FacesiftError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None


GroupsFile = Annotated[
    Path | None,
    typer.Option(
        "--groups",
        help="CSV of identity,group: also report FMR and TAR per group and the differential",
    ),
]


@evaluation.command("verify")
def eval_verify(
    root: Annotated[Path, typer.Option("--root", help="Folder the pair file's photos are in")],
    pairs: Annotated[
        Path | None,
        typer.Option(
            "--pairs",
            help="LFW pair file (View 1 or View 2) or CSV; with --groups it may be left out "
            "(every photo of --root's per-identity folders)",
        ),
    ] = None,
    groups: GroupsFile = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write ROC, DET and histograms (PNG)")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --plot file")] = False,
) -> None:
    """1:1 verification accuracy, ROC AUC and TAR at fixed FAR on a pair file; with --groups
    also per group of identities."""
    from facesift.workflows.evaluate import (
        embed_photos,
        evaluate_verification,
        verification_inputs,
    )
    from facesift.workflows.groups import verification_by_group

    if pairs is None and groups is None:
        raise _fail("give --pairs, or --groups to evaluate every photo under --root")
    _check_plot(plot, force)
    ws = State.workspace()
    try:
        group_of, pair_list, photos = verification_inputs(root, pairs, groups)
    except (FacesiftError, OSError) as exc:
        raise _fail(str(exc)) from None
    embedded = _embedding_run(
        as_json,
        lambda progress: embed_photos(ws.engine, photos, prefer="central", progress=progress),
    )
    policy = ws.policy()
    out: dict[str, Any] = {}
    if group_of is not None:
        out["groups"] = verification_by_group(embedded, group_of, policy)
    if pair_list is None:
        if as_json:
            _print_json(out)
        else:
            _print_group_verification(out["groups"])
        return
    report = evaluate_verification(
        ws.engine,
        pair_list,
        threshold=policy.threshold,
        calibration=policy.active,
        embedded=embedded,
    )
    if plot is not None:
        from facesift.reports.plots import verification_report_plot

        label = pairs.name if pairs else root.name
        verification_report_plot(report, ws.threshold, label, plot, force=force)
    if as_json:
        _print_json({**report.to_dict(), **out})
        return
    _print_lines(verification_report_lines(report))
    console.print(failures_heading(report))
    _print_lines(failure_lines(report.failures, _t))
    if "groups" in out:
        _print_group_verification(out["groups"])


def _check_plot(plot: Path | None, force: bool) -> None:
    """Refuse a --plot file that exists (without --force) before the evaluation runs."""
    if plot is not None:
        try:
            check_output(plot, force=force)
        except FacesiftError as exc:
            raise _fail(str(exc)) from None


def _print_group_verification(data: dict[str, Any]) -> None:
    """Per-group rates as a table, then how far apart the groups' false-match rates are."""
    console.print(_table(group_verification_table(data, _t)))
    _print_lines(group_differential_lines(data))


@evaluation.command("identify")
def eval_identify(
    root: Annotated[Path, typer.Option("--root", help="Folder of per-identity subfolders")],
    probes: Annotated[
        Path | None, typer.Option("--probes", help="Per-identity probe folders replacing --root's")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write CMC and DET curves (PNG)")
    ] = None,
    groups: GroupsFile = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --plot file")] = False,
) -> None:
    """Open-set 1:N identification: rank-1/5, CMC, FNIR at FPIR 1% and 0.3%; with --groups
    also rank-1, FNIR and FPIR at the threshold per group of the probes' identities."""
    from facesift.workflows.evaluate_search import evaluate_identification
    from facesift.workflows.groups import identification_by_group, read_groups

    _check_plot(plot, force)
    ws = State.workspace()
    try:
        group_of = read_groups(groups) if groups else None
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    report = _embedding_run(
        as_json,
        lambda progress: evaluate_identification(
            ws.engine, root, probes_root=probes, progress=progress
        ),
    )
    if plot is not None:
        from facesift.reports.plots import identification_report_plot

        identification_report_plot(report, root.name, plot, force=force)
    data = report.to_dict()
    if group_of is not None:
        data["groups"] = identification_by_group(report, group_of, ws.threshold)
    if as_json:
        _print_json(data)
        return
    _print_lines(identification_report_lines(report))
    if "groups" in data:
        table = group_identification_table(data["groups"], _t)
        console.print(_table(table, title_justify="center"))


# ------------------------------------------------------------------- accounts, review, audit
users_app = typer.Typer(
    help="Accounts of the REST API and their roles (viewer, analyst, admin). There is no "
    "default account: make the first admin here.",
    invoke_without_command=True,
)
app.add_typer(users_app, name="users")

PasswordStdin = Annotated[
    bool,
    typer.Option(
        "--password-stdin", help="Read the password from the first line of standard input"
    ),
]


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise _fail("give the password on standard input with --password-stdin")
    return str(typer.prompt("Password", hide_input=True, confirmation_prompt=True))


def _account_change(change: Callable[[Workspace], Any], done: str) -> None:
    try:
        change(State.workspace())
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    console.print(done, highlight=False)


def _print_users(as_json: bool) -> None:
    rows = [a.to_dict() for a in State.workspace().users()]
    if as_json:
        _print_json(rows)
        return
    console.print(_table(users_table(rows, _t)))


@users_app.callback()
def users_callback(
    ctx: typer.Context, as_json: Annotated[bool, typer.Option("--json")] = False
) -> None:
    """List the accounts."""
    if ctx.invoked_subcommand is None:
        _print_users(as_json)


@users_app.command("list")
def users_list(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the accounts."""
    _print_users(as_json)


@users_app.command("add")
def users_add(
    name: Annotated[str, typer.Argument(help="Account name")],
    role: Annotated[str, typer.Option("--role", help="viewer, analyst or admin")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Make an account (its password hashed with Argon2id)."""
    password = _password(password_stdin)
    _account_change(lambda ws: ws.add_user(name, role, password), f"Added {_t(name)} ({role}).")


@users_app.command("passwd")
def users_passwd(
    name: Annotated[str, typer.Argument(help="Account name")],
    password_stdin: PasswordStdin = False,
) -> None:
    """Set a new password; the account's tokens stop working."""
    password = _password(password_stdin)
    _account_change(lambda ws: ws.set_password(name, password), f"Password of {_t(name)} set.")


@users_app.command("role")
def users_role(
    name: Annotated[str, typer.Argument(help="Account name")],
    role: Annotated[str, typer.Argument(help="viewer, analyst or admin")],
) -> None:
    """Change an account's role."""
    _account_change(lambda ws: ws.set_role(name, role), f"{_t(name)} is now {role}.")


@users_app.command("disable")
def users_disable(name: Annotated[str, typer.Argument(help="Account name")]) -> None:
    """Disable an account: it cannot sign in, and its tokens stop working at once."""
    _account_change(lambda ws: ws.disable_user(name), f"Disabled {_t(name)}.")


@users_app.command("enable")
def users_enable(name: Annotated[str, typer.Argument(help="Account name")]) -> None:
    """Enable a disabled account again."""
    _account_change(lambda ws: ws.disable_user(name, False), f"Enabled {_t(name)}.")


@app.command("review")
def review_command(
    target: Annotated[str, typer.Argument(help="A face id (123) or a video track (track:45)")],
    confirm: Annotated[
        str | None, typer.Option("--confirm", help="The candidate is this person")
    ] = None,
    reject: Annotated[
        str | None, typer.Option("--reject", help="The candidate is not this person")
    ] = None,
    inconclusive: Annotated[
        str | None, typer.Option("--inconclusive", help="Cannot tell whether it is this person")
    ] = None,
    note: Annotated[str | None, typer.Option("--note", help="Why (recorded)")] = None,
    case: CaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Decide about a candidate for a stored face or track; what the search shows now is
    frozen with the decision, which a second person can then verify or dispute."""
    given = [(v, p) for v, p in (("confirm", confirm), ("reject", reject),
             ("inconclusive", inconclusive)) if p is not None]  # fmt: skip
    if len(given) != 1:
        raise _fail("give exactly one of --confirm, --reject, --inconclusive PERSON")
    verdict, person = given[0]
    try:
        entry = State.workspace().review(target, person, verdict, note=note, case=case)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(entry.to_dict())
        return
    shown = entry.shown
    console.print(
        f"Decision {entry.id}: {verdict} {_t(person)} for {_t(target)} (shown: score "
        f"{shown['score']:.3f}, rank {shown['rank']}, {shown['band']}); awaits a second "
        "reviewer.",
        highlight=False,
    )


decisions_app = typer.Typer(
    help="Review decisions: list them, or verify or dispute one as the second reviewer.",
    invoke_without_command=True,
)
app.add_typer(decisions_app, name="decisions")


@decisions_app.callback()
def decisions_list(
    ctx: typer.Context,
    case: CaseOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List the review decisions (of one case, or all)."""
    if ctx.invoked_subcommand is not None:
        return
    try:
        rows = [d.to_dict() for d in State.workspace().decisions(case=case)]
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(rows)
        return
    console.print(_table(decisions_table(rows, _t), lines=True))


def _check(decision: int, outcome: str, note: str | None, as_json: bool) -> None:
    try:
        entry = State.workspace().check_decision(decision, outcome, note=note)
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(entry.to_dict())
        return
    console.print(f"Decision {decision} {outcome}; it is now {entry.status}.", highlight=False)


DecisionId = Annotated[int, typer.Argument(help="Decision id")]
NoteOption = Annotated[str | None, typer.Option("--note", help="Why (recorded)")]


@decisions_app.command("verify")
def decisions_verify(
    decision: DecisionId,
    note: NoteOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Agree with another reviewer's decision (two-person rule)."""
    _check(decision, "verified", note, as_json)


@decisions_app.command("dispute")
def decisions_dispute(
    decision: DecisionId,
    note: NoteOption = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Disagree with another reviewer's decision (it then shows as disputed)."""
    _check(decision, "disputed", note, as_json)


audit_app = typer.Typer(
    help="The tamper-evident audit log: show it, verify its hash chain, sign checkpoints."
)
app.add_typer(audit_app, name="audit")


@audit_app.command("show")
def audit_show(
    since: Annotated[
        str | None, typer.Option("--since", help="From this UTC time on (ISO, e.g. 2026-11-30)")
    ] = None,
    actor: Annotated[str | None, typer.Option("--actor", help="Only this actor's")] = None,
    action: Annotated[str | None, typer.Option("--action", help="Only this action")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Entries of the audit log, oldest first."""
    rows = [
        e.to_dict()
        for e in State.workspace().audit_entries(since=since, actor=actor, action=action)
    ]
    if as_json:
        _print_json(rows)
        return
    console.print(_table(audit_table(rows, _t)))


@audit_app.command("verify")
def audit_verify(
    checkpoint: Annotated[
        Path | None,
        typer.Option("--checkpoint", help="A checkpoint signed earlier: the log must extend it"),
    ] = None,
    key: Annotated[
        str | None,
        typer.Option("--key", help="Verifier key of the checkpoint (default: the workspace's)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """Recompute the hash chain; exits 1 naming the first entry changed, removed or moved."""
    try:
        note = None if checkpoint is None else checkpoint.read_text(encoding="utf-8")
        result = State.workspace().verify_audit(checkpoint=note, verifier=key)
    except (FacesiftError, OSError) as exc:
        raise _fail(str(exc)) from None
    if as_json:
        _print_json(result.to_dict())
    elif result.ok:
        covered = (
            ""
            if result.checkpoint is None
            else (f"; it extends the checkpoint of {result.checkpoint.size} entries")
        )
        console.print(f"Audit log intact: {result.entries} entries{covered}.", highlight=False)
    else:
        for problem in result.problems:
            _labelled(errors, "tampered:", "red", _t(str(problem)))
    if not result.ok:
        raise typer.Exit(1)


@audit_app.command("checkpoint")
def audit_checkpoint(
    out: Annotated[
        Path | None, typer.Option("--out", help="Write it to this file (never overwritten)")
    ] = None,
) -> None:
    """Print a signed (Ed25519) checkpoint of the log's size and newest hash, to keep
    elsewhere; `audit verify --checkpoint` later proves the log still extends it."""
    try:
        note = State.workspace().audit_checkpoint()
        if out is not None:
            with out.open("x", encoding="utf-8") as handle:
                handle.write(note)
    except (FacesiftError, OSError) as exc:
        raise _fail(str(exc)) from None
    sys.stdout.write(note)


@audit_app.command("key")
def audit_key() -> None:
    """Print the verifier key of this workspace's checkpoints (keep it with them)."""
    sys.stdout.write(State.workspace().audit_verifier_key() + "\n")


@app.command("report")
def report_command(
    case: Annotated[str, typer.Option("--case", "-c", help="The case to report on")],
    out: Annotated[Path, typer.Option("--out", "-o", help="File to write (never overwritten)")],
    fmt: Annotated[
        str, typer.Option("--format", help="html (one self-contained file) or pdf")
    ] = "html",
    people: Annotated[
        list[str] | None, typer.Option("--people", help="Only this person (repeat for more)")
    ] = None,
    include_unreviewed: Annotated[
        bool,
        typer.Option(
            "--include-unreviewed",
            help="Also candidates above the threshold no reviewer confirmed (marked as such)",
        ),
    ] = False,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing --out file")] = False,
) -> None:
    """A case report (HTML or PDF): who was identified, on what evidence, decided by whom, with
    every cited file's provenance; its SHA-256 goes into the audit log."""
    from facesift.reports.case_report import FORMATS, render

    if fmt not in FORMATS:
        raise _fail(f"--format must be one of {', '.join(FORMATS)}")
    ws = State.workspace()
    try:
        check_output(out, inputs=[], force=force)
        made = ws.case_report(case, people=people, include_unreviewed=include_unreviewed)
        data = render(made, fmt)
        with out.open("wb" if force else "xb") as handle:
            handle.write(data)
    except (FacesiftError, OSError) as exc:
        raise _fail(str(exc)) from None
    digest = ws.record_report(case, fmt, data, str(out))
    console.print(
        f"Report of case {_t(case)} written to {_t(out)} ({len(data):,} bytes, SHA-256 {digest}; "
        f"{made.summary['people_identified']} people identified).",
        highlight=False,
    )


@app.command("serve")
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to listen on")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", help="Port to listen on")] = 8000,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes per scan job (default: one per core)"),
    ] = None,
) -> None:
    """Run the web app and the REST API (OpenAPI at /openapi.json, docs at /docs) over this
    workspace."""
    import uvicorn

    from facesift.web.app import create_app

    api = create_app(State.workspace(), scan_workers=workers)
    uvicorn.run(api, host=host, port=port, log_level="info")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
