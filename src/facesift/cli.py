"""The `facesift` command line: parse, call a Workspace operation, print."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from facesift.errors import FacesiftError
from facesift.match.calibration import LOW_RES
from facesift.media.draw import draw_boxes
from facesift.media.files import is_video
from facesift.media.image import load_image
from facesift.media.video import DEFAULT_SAMPLE_FPS
from facesift.vision.engine import FaceEngine
from facesift.workflows.results import Candidate, Decision, FaceMatches, TrackMatches
from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY
from facesift.workflows.workspace import Workspace

T = TypeVar("T")

app = typer.Typer(
    help="Find and identify faces in photo and video collections, offline. Scores are evidence "
    "for a human reviewer, not verdicts.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True, soft_wrap=True)


class State:
    workspace_dir: Path = Path("facesift-workspace")
    database_url: str | None = None
    detector: str = "auto"
    embedder: str = "dlib"
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
            cls._workspace = Workspace(
                cls.workspace_dir, engine=cls.engine(), database_url=cls.database_url
            )
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
    detector: Annotated[
        str,
        typer.Option(
            "--detector",
            help="auto (cnn where ONNX Runtime has a GPU, else hog), hog (frontal faces, fastest "
            "on a CPU), cnn (dlib's MMOD network: turned faces too), or an SCRFD/YuNet .onnx file",
        ),
    ] = "auto",
    embedder: Annotated[
        str,
        typer.Option("--embedder", help="dlib (bundled ResNet) or an ArcFace/SFace .onnx file"),
    ] = "dlib",
) -> None:
    State.detector, State.embedder = detector, embedder
    State.workspace_dir = workspace or Path(
        os.environ.get("FACESIFT_WORKSPACE") or "facesift-workspace"
    )
    State.database_url = database_url
    State._workspace = None


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def _fail(message: str, code: int = 1) -> typer.Exit:
    errors.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def _read_metadata(path: Path | None) -> dict[str, dict[str, Any]]:
    """CSV with a `name` (or `person`) column; every other column becomes an attribute."""
    if path is None:
        return {}
    with open(path, newline="", encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    if rows and not ({"name", "person"} & set(rows[0])):
        raise _fail(f"{path}: the metadata CSV needs a 'name' column")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = (row.pop("name", None) or row.pop("person", None) or "").strip()
        if name:
            out[name] = {k: v for k, v in row.items() if k and v not in (None, "")}
    return out


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
    paths: Annotated[list[Path], typer.Argument(help="Photos, or a folder of Name/ subfolders")],
    person: Annotated[
        str | None, typer.Option("--person", "-p", help="Enrol the given photos as this person")
    ] = None,
    meta: Annotated[
        Path | None, typer.Option("--meta", help="CSV of people: name + any metadata columns")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Add known people to the gallery."""
    metadata = _read_metadata(meta)
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
            console.print(
                f"[{style}]{o.status:<16}[/{style}] {o.person:<24} {o.path}  {o.message}",
                highlight=False,
                soft_wrap=True,
            )
        enrolled = sum(o.ok for o in outcomes)
        console.print(f"{enrolled} of {len(outcomes)} photos in the gallery.")
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
        list[Path], typer.Argument(help="Photos, videos or folders (searched recursively)")
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
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Find and store every face in photos and videos (video faces linked into tracks).
    Reruns skip stored files and resume videos: Ctrl-C, then rerun."""
    ws = State.workspace()
    with Progress(
        TextColumn("[bold]{task.fields[label]}"),
        BarColumn(),
        TextColumn("{task.fields[count]}"),
        TimeRemainingColumn(),
        TextColumn("{task.description}"),
        console=errors,
        transient=True,
        disable=as_json or not errors.is_terminal,
    ) as bar:
        files = bar.add_task("", total=None, label="files", count="")
        video = bar.add_task("", total=None, label="video", count="", visible=False)

        def progress(path: Path, done: int, total: int) -> None:
            bar.update(
                files, completed=done, total=total, description=path.name[:40],
                count=f"{done}/{total}",
            )  # fmt: skip
            bar.update(video, visible=False)

        def video_progress(path: Path, seconds: float, duration: float | None) -> None:
            shown = f"{seconds:.0f}/{duration:.0f} s" if duration else f"{seconds:.0f} s"
            bar.update(files, description=path.name[:40])
            bar.update(
                video, completed=seconds, total=duration, description=path.name[:40],
                count=shown, visible=True,
            )  # fmt: skip

        try:
            report = ws.scan(
                paths,
                case=case,
                progress=progress,
                workers=workers,
                fps=None if every_frame else fps,
                full_scan_every=full_scan_every,
                video_progress=video_progress,
            )
        except (FacesiftError, FileNotFoundError) as exc:
            raise _fail(str(exc)) from None
    if as_json:
        _print_json(report.to_dict())
    else:
        for path, reason in report.errors:
            errors.print(f"[red]skipped[/red] {path}: {reason}", highlight=False)
        for path, reason in report.partial:
            errors.print(f"[yellow]partly read[/yellow] {path}: {reason}", highlight=False)
        rate = report.faces / report.seconds if report.seconds else 0.0
        videos = (
            f" {report.video_seconds:.1f} s of video, {report.tracks} tracks;"
            if report.video_seconds
            else ""
        )
        console.print(
            f"{report.files} files: {report.processed} analysed, {report.already_stored} already "
            f"stored, {len(report.errors)} failed;{videos} {report.faces} faces found "
            f"in {report.seconds:.1f} s ({rate:.1f} faces/s).",
            highlight=False,
        )
    if report.interrupted:
        errors.print("Interrupted: what was analysed is saved; run the same command to resume.")
        raise typer.Exit(130)


def _fmr_text(fmr: float | None) -> str:
    return "fmr ?" if fmr is None else f"fmr {fmr:.1e}"


def _faces_table(title: str, faces: list[FaceMatches], decision: Decision) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("#", justify="right")
    table.add_column("where", overflow="fold")
    table.add_column("quality")
    table.add_column(
        "candidates: score, estimated FMR, band (* = above threshold)", overflow="fold"
    )
    for k, face in enumerate(faces, start=1):
        where = ", ".join(f"{v:.0f}" for v in face.bbox)
        if face.source:
            where = f"{face.source['path']}\n[{where}]"
        flags = ", ".join(face.quality.flags)
        quality = f"{face.quality.score:.2f}" + (f" ({flags})" if flags else "")
        table.add_row(
            str(k), where, quality, _candidates_text(face.candidates) or "(gallery empty)"
        )
    table.caption = f"threshold {decision.threshold:.3f}; {decision.note}"
    return table


def _candidates_text(candidates: list[Candidate]) -> str:
    return "\n".join(
        f"{c.person}  {c.score:.3f}  {_fmr_text(c.fmr)} {c.band}"
        + (" *" if c.above_threshold else "")
        for c in candidates
    )


def _tracks_table(title: str, tracks: list[TrackMatches], decision: Decision) -> Table:
    table = Table(title=title, title_justify="left", show_lines=True)
    table.add_column("track", justify="right")
    table.add_column("when (s)", overflow="fold")
    table.add_column("faces", justify="right")
    table.add_column("best shot", overflow="fold")
    table.add_column(
        "candidates: score, estimated FMR, band (* = above threshold)", overflow="fold"
    )
    for track in tracks:
        shot = track.best_shot
        where = f"frame {shot.get('frame_index')} at {shot.get('timestamp')} s\n" + ", ".join(
            f"{v:.0f}" for v in shot.get("bbox", [])
        )
        when = f"{track.start:.2f}–{track.end:.2f}"
        if track.source:
            when = f"{Path(track.source['path']).name}\n{when}"
        table.add_row(
            str(track.number),
            when,
            str(track.faces),
            where,
            _candidates_text(track.candidates) or "(gallery empty)",
        )
    table.caption = f"threshold {decision.threshold:.3f}; {decision.note}"
    return table


@app.command()
def search(
    image: Annotated[Path, typer.Argument(help="Photo or video to search")],
    top: Annotated[int, typer.Option("--top", "-k", min=1, help="Candidates per face")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
    annotate: Annotated[
        Path | None, typer.Option("--annotate", help="Photo: write a copy with boxes and names")
    ] = None,
    fps: SampleFps = DEFAULT_SAMPLE_FPS,
    every_frame: EveryFrame = False,
    full_scan_every: FullScanEvery = DEFAULT_FULL_SCAN_EVERY,
) -> None:
    """Every face in a photo or video with its ranked gallery candidates; for a video also
    every track (one person's continuous appearance). Nothing is stored."""
    ws = State.workspace()
    if annotate is not None and is_video(image):
        raise _fail("--annotate is for photos; for a video frame use: facesift frame VIDEO --at S")
    try:
        result = ws.search(
            image, top=top, fps=None if every_frame else fps, full_scan_every=full_scan_every
        )
    except FacesiftError as exc:
        raise _fail(str(exc)) from None
    if annotate is not None:
        labels, colors = [], []
        for k, face in enumerate(result.faces, start=1):
            best = face.candidates[0] if face.candidates else None
            if best is not None and best.above_threshold:
                labels.append(f"{k}: {best.person} {best.score:.2f}")
                colors.append("#ffd400")
            else:
                labels.append(f"{k}: unknown")
                colors.append("#9ecbff")
        pixels = load_image(image).pixels
        draw_boxes(pixels, [f.bbox for f in result.faces], labels, colors).save(annotate)
    if as_json:
        _print_json(result.to_dict())
        return
    if not result.faces:
        console.print(f"No face found in {image}.")
        return
    if result.tracks is not None:
        if result.video and result.video.get("error"):
            errors.print(f"[yellow]partly read[/yellow] {image}: {result.video['error']}")
        title = f"{image}: {len(result.tracks)} track(s), {len(result.faces)} face(s)"
        console.print(_tracks_table(title, result.tracks, result.decision))
        return
    console.print(
        _faces_table(f"{image}: {len(result.faces)} face(s)", result.faces, result.decision)
    )
    if annotate is not None:
        console.print(f"Annotated copy written to {annotate}")


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
        out = io.StringIO()
        writer = csv.writer(out)
        writer.writerow(
            ["face_id", "path", "sha256", "x1", "y1", "x2", "y2", "quality", "rank", "person",
             "score", "fmr", "band", "above_threshold", "track_id", "start", "end", "frame_index"]
        )  # fmt: skip

        def rows(head: list[Any], candidates: list[Candidate], tail: list[Any]) -> None:
            for rank, c in enumerate(candidates or [None], start=1):
                writer.writerow(
                    [*head, rank if c else "", c.person if c else "",
                     round(c.score, 4) if c else "",
                     (f"{c.fmr:.3g}" if c.fmr is not None else "") if c else "",
                     c.band if c else "", c.above_threshold if c else "", *tail]
                )  # fmt: skip

        for face in result.faces:
            head = [face.face_id, face.source["path"], face.source["sha256"],
                    *(round(v, 1) for v in face.bbox), round(face.quality.score, 3)]  # fmt: skip
            rows(head, face.candidates, ["", "", "", ""])
        for track in result.tracks:
            shot = track.best_shot
            head = [shot.get("face_id", ""), track.source["path"], track.source["sha256"],
                    *shot.get("bbox", ["", "", "", ""]), shot.get("quality", "")]  # fmt: skip
            tail = [track.track_id, round(track.start, 3), round(track.end, 3),
                    shot.get("frame_index", "")]  # fmt: skip
            rows(head, track.candidates, tail)
        sys.stdout.write(out.getvalue())
    else:
        where = f" in case {case}" if case else ""
        if result.faces or not result.tracks:
            title = f"{len(result.faces)} photo face(s){where}"
            console.print(_faces_table(title, result.faces, result.decision))
        if result.tracks:
            title = f"{len(result.tracks)} video track(s){where}"
            console.print(_tracks_table(title, result.tracks, result.decision))


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
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON")] = False,
) -> None:
    """Extract the evidence frame of a video (by time or frame number), with its faces.

    The faces are the ones stored by a scan of this video (same SHA-256), else detected now."""
    if (at is None) == (index is None):
        raise _fail("give --at SECONDS or --index N")
    ws = State.workspace()
    try:
        shot = ws.evidence_frame(video, seconds=at, index=index)
    except (FacesiftError, FileNotFoundError) as exc:
        raise _fail(str(exc)) from None
    try:
        shot.image(boxes).save(out)
    except (OSError, ValueError) as exc:
        raise _fail(f"{out}: cannot write the image: {exc}") from None
    if as_json:
        _print_json({**shot.to_dict(), "out": str(out)})
    else:
        console.print(
            f"Frame {shot.frame.index} at {shot.frame.timestamp:.3f} s of {video} "
            f"({len(shot.faces)} face(s)) written to {out}",
            highlight=False,
        )


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
    verdict = "likely the same person" if result.same_person else "likely different people"
    console.print(
        f"score {result.score:.3f}, {_fmr_text(result.fmr)} ({result.band}); "
        f"threshold {result.decision.threshold:.3f}: {verdict}",
        highlight=False,
    )
    for note in result.notes:
        console.print(f"note: {note}", highlight=False)
    console.print(result.decision.note, style="dim", highlight=False)


@app.command()
def people(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the gallery's people."""
    rows = State.workspace().people()
    if as_json:
        _print_json(rows)
        return
    table = Table("name", "faces", "attributes")
    for r in rows:
        table.add_row(
            r["name"], str(r["faces"]), ", ".join(f"{k}={v}" for k, v in r["attributes"].items())
        )
    console.print(table)


@app.command()
def media(
    case: Annotated[str | None, typer.Option("--case", "-c")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored media with their SHA-256 and face counts."""
    rows = State.workspace().media(case)
    if as_json:
        _print_json(rows)
        return
    table = Table("path", "kind", "sha256", "size", "W×H", "faces", "status")
    for r in rows:
        dims = f"{r['width']}×{r['height']}" if r["width"] else ""
        status = f"{r['status']}: {r['error']}" if r["error"] else r["status"]
        table.add_row(
            r["path"], r["kind"], r["sha256"][:12], str(r["size"]), dims, str(r["faces"]), status
        )
    console.print(table)


@app.command()
def faces(
    person: Annotated[str | None, typer.Option("--person", "-p")] = None,
    case: Annotated[str | None, typer.Option("--case", "-c")] = None,
    as_json: Annotated[bool, typer.Option("--json")] = False,
) -> None:
    """List stored faces."""
    rows = State.workspace().faces(person=person, case=case)
    if as_json:
        _print_json(rows)
        return
    table = Table("id", "path", "frame @ s", "box", "quality", "px", "person")
    for r in rows:
        at = "" if r["timestamp"] is None else f"{r['frame_index']} @ {r['timestamp']:.2f}"
        table.add_row(
            str(r["id"]), r["path"], at, ", ".join(f"{v:.0f}" for v in r["bbox"]),
            f"{r['quality']:.2f}", f"{r['face_px']:.0f}", r["person"] or "",
        )  # fmt: skip
    console.print(table)


@app.command()
def doctor(as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Show the models (with weights hashes), runtimes, providers and threads in use."""
    from facesift.workflows.doctor import environment_report

    report = environment_report(State.engine())
    if as_json:
        _print_json(report)
        return
    engine = report["engine"]
    table = Table("model", "sha256", "path", title="Bundled models", title_justify="left")
    for model in report["bundled_models"]:
        table.add_row(model["name"], model["sha256"], model["path"])
    console.print(table)
    runtime = engine["embedder_runtime"]
    console.print(
        f"embedder: {engine['embedder']} on {runtime['runtime']}"
        + (
            f" ({', '.join(runtime['providers'])}, {runtime['threads']} threads)"
            if "providers" in runtime
            else ""
        ),
        highlight=False,
    )
    console.print(
        f"detector: {engine['detector']}; landmarks: {engine['landmarks']}", highlight=False
    )
    for key, value in {**report["runtimes"], **report["threads"]}.items():
        console.print(f"{key}: {value}", highlight=False)
    console.print(f"cache_dir: {report['cache_dir']}", highlight=False)


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
    from facesift.workflows.evaluate import calibrate as fit
    from facesift.workflows.evaluate import calibrate_low_res as fit_low_res

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
        summary["low_res" if low_res else "standard"] = {
            "impostor_pairs": calibration.impostor_pairs,
            "threshold_fmr_1e-2": calibration.threshold_for(1e-2),
            "threshold_fmr_1e-3": calibration.threshold_for(1e-3),
            "saved_to": str(target),
            "provenance": calibration.provenance,
        }
    if as_json:
        _print_json(summary)
        return
    for kind, fit_summary in summary.items():
        console.print(
            f"{kind}: {fit_summary['impostor_pairs']:,} different-person pairs; FMR 1e-2 at "
            f"score {fit_summary['threshold_fmr_1e-2']:.4f}, FMR 1e-3 at "
            f"{fit_summary['threshold_fmr_1e-3']:.4f}; saved to {fit_summary['saved_to']}",
            highlight=False,
        )


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


@evaluation.command("verify")
def eval_verify(
    pairs: Annotated[Path, typer.Option("--pairs", help="LFW pair file (View 1 or View 2) or CSV")],
    root: Annotated[Path, typer.Option("--root", help="Folder the pair file's photos are in")],
    as_json: Annotated[bool, typer.Option("--json")] = False,
    plot: Annotated[
        Path | None, typer.Option("--plot", help="Write ROC, DET and histograms (PNG)")
    ] = None,
) -> None:
    """1:1 verification accuracy, ROC AUC and TAR at fixed FAR on a pair file."""
    from facesift.workflows.evaluate import evaluate_verification, read_pairs

    ws = State.workspace()
    report = _embedding_run(
        as_json,
        lambda progress: evaluate_verification(
            ws.engine,
            read_pairs(pairs, root),
            threshold=ws.threshold,
            calibration=ws.calibration,
            progress=progress,
        ),
    )
    if plot is not None:
        from facesift.workflows.plots import verification_plot

        marks = {"default threshold": ws.threshold}
        if report.calibrated_threshold is not None:
            marks["FMR 1e-3"] = report.calibrated_threshold
        verification_plot(
            report.scores, report.same, marks, f"{pairs.name}: {report.pairs} pairs", plot
        )
    if as_json:
        _print_json(report.to_dict())
        return
    data = report.to_dict()
    accuracy = f"{report.accuracy:.4f}"
    if report.folds > 1:
        accuracy += (
            f" ± {report.accuracy_std:.4f} ({report.folds}-fold, threshold from the other folds)"
        )
    else:
        accuracy += f" (at the default threshold {report.threshold:.3f})"
    console.print(f"pairs: {report.pairs}; accuracy {accuracy}", highlight=False)
    console.print(
        f"ROC AUC {report.roc_auc:.4f}; TAR at FAR 1e-2 {data['tar_at_far']['1e-2']:.4f}, "
        f"at 1e-3 {data['tar_at_far']['1e-3']:.4f}",
        highlight=False,
    )
    if report.calibrated_threshold is not None:
        console.print(
            f"accuracy at the calibrated FMR 1e-3 threshold ({report.calibrated_threshold:.4f}): "
            f"{report.calibrated_accuracy:.4f}",
            highlight=False,
        )
    console.print(f"photos without a face: {len(report.failures)} ({data['failure_handling']})")
    for path, reason in list(report.failures.items())[:20]:
        console.print(f"  {path}: {reason}", highlight=False)


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
) -> None:
    """Open-set 1:N identification: rank-1/5, CMC, FNIR at FPIR 1% and 0.3%."""
    from facesift.workflows.evaluate import evaluate_identification

    ws = State.workspace()
    report = _embedding_run(
        as_json,
        lambda progress: evaluate_identification(
            ws.engine, root, probes_root=probes, progress=progress
        ),
    )
    if plot is not None:
        from facesift.workflows.plots import identification_plot

        title = (
            f"{root.name}: {report.gallery} enrolled, {report.mated} mated, "
            f"{report.non_mated} non-mated"
        )
        identification_plot(report.cmc, *report.det, title, plot)
    data = report.to_dict()
    if as_json:
        _print_json(data)
        return
    console.print(
        f"gallery {report.gallery}; probes: {report.mated} mated, {report.non_mated} non-mated; "
        f"{len(report.failures)} photos without a face",
        highlight=False,
    )
    console.print(f"rank-1 {report.rank1:.4f}, rank-5 {report.rank5:.4f}", highlight=False)
    console.print(
        f"FNIR at FPIR 0.01: {data['fnir_at_fpir_0.01']}; "
        f"at FPIR 0.003: {data['fnir_at_fpir_0.003']}",
        highlight=False,
    )


def main() -> None:
    app()


if __name__ == "__main__":
    main()
