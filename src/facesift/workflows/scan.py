"""Scanning: every face of every photo and video under some folders stored with provenance.

Files are known by content (SHA-256): one analysed before is not analysed again, so a rerun
after an interruption resumes where it stopped. Each photo is committed on its own; a video
commits its faces and tracks every CHECKPOINT_SECONDS of video and resumes from its last
commit (facesift.store.videos). Bad files are reported and the scan goes on.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from facesift.errors import MediaError
from facesift.execution import Executor, ExecutorFactory
from facesift.execution.analysis import AnalysisFailure, AnalyzedImage
from facesift.match.tracking import Anchor, FrameFaces, Tracker, TrackerSettings
from facesift.media.files import discover, is_video, sha256_file
from facesift.media.image import EXIF_ERRORS
from facesift.media.sources import ArchiveError, MediaSource
from facesift.media.video import DEFAULT_SAMPLE_FPS, DecodeStatus, probe_video
from facesift.media.wacz import read_wacz
from facesift.store.copies import keep_copy
from facesift.store.store import COMPLETE, Tx
from facesift.store.videos import ScanTakenOver, VideoRecord
from facesift.workflows.context import Context
from facesift.workflows.enroll import audit_stored_image, store_image
from facesift.workflows.listings import check_case_name
from facesift.workflows.results import ScanReport
from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY, track_video

# Called after each file of a scan: (path, files done, files in all).
ScanProgress = Callable[[Path, int, int], None]
# Called after each sampled frame of a video: (path, seconds done, duration or None).
VideoProgress = Callable[[Path, float, float | None], None]

# A video scan commits its faces and tracks at least this often (seconds of video), so an
# interruption loses little and a rerun resumes from the last commit; and at least this often
# in wall-clock seconds, so other processes see it is alive (videos.HEARTBEAT_STALE_SECONDS).
CHECKPOINT_SECONDS = 10.0
HEARTBEAT_SECONDS = 20.0


def scan(
    ctx: Context,
    paths: Iterable[str | Path],
    *,
    case: str | None = None,
    progress: ScanProgress | None = None,
    workers: int | None = None,
    fps: float | None = DEFAULT_SAMPLE_FPS,
    full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
    video_progress: VideoProgress | None = None,
    skip_hidden: bool = False,
    executor: ExecutorFactory | None = None,
) -> ScanReport:
    """Store every face of every supported photo and video under `paths`, with provenance.

    Ctrl-C loses at most the files in progress. `workers` processes analyse photos or video
    frames in parallel (default: one per core). Videos are sampled at `fps` frames per second
    (None: every frame) and their faces linked into tracks; small faces are searched for in
    the whole frame every `full_scan_every` seconds and near known small faces in between (0:
    every sampled frame in full; see facesift.workflows.video). Files are recognised by
    extension or content; hidden ones are scanned unless `skip_hidden`; every file not
    analysed is in the report's `skipped`. `executor`: where the analysis runs (default: the
    workspace's, local processes unless it was given another, such as
    facesift.execution.cluster.RayCluster); the store is written by this process either way.
    """
    if case is not None:
        check_case_name(case)
    started = time.perf_counter()
    paths_given = list(paths)
    found = discover(paths_given, skip_hidden=skip_hidden, archives=True)
    report = ScanReport(
        skipped=list(found.skipped),
        errors=list(found.errors),
        not_included=list(found.not_included),
    )
    files, sources = list(found.files), dict(found.sources)
    for archive in found.archives:
        _read_wacz(ctx, archive, files, sources, report)
    report.files = len(files)
    videos: list[tuple[Path, str]] = []
    done = 0

    def seen_in(path: Path) -> list[MediaSource]:
        return sources.get(path, [])

    def advance(path: Path) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(path, done, len(files))

    def pending() -> Iterator[tuple[tuple[Path, str], Path]]:
        for path in files:
            sha = _hash_or_report(path, report)
            if sha is not None and not _already_stored(ctx, sha, case, seen_in(path), report):
                if is_video(path):
                    videos.append((path, sha))  # after the photos, frame by frame
                    continue
                yield (path, sha), path
                continue
            if sha is not None:
                report.already_stored += 1
            advance(path)

    executor = executor or ctx.executor
    workers = executor.default_workers(ctx.engine) if workers is None else workers
    if not any(is_video(f) for f in files):  # a video's frames keep every worker busy
        workers = min(workers, len(files))
    try:
        with executor(ctx.engine, max(1, workers)) as pool:
            for (path, sha), analysis in pool.imap(pending()):
                _store_analysis(ctx, (path, sha, seen_in(path)), analysis, case, report)
                advance(path)
            for path, sha in videos:
                _scan_video(
                    ctx,
                    pool,
                    (path, sha, seen_in(path)),
                    case,
                    (fps, full_scan_every),
                    report,
                    video_progress,
                )
                advance(path)
    except KeyboardInterrupt:
        report.interrupted = True
    report.seconds = time.perf_counter() - started
    summary = {k: v for k, v in report.to_dict().items() if not isinstance(v, list | dict)}
    ctx.store.transaction(
        lambda tx: tx.audit(
            ctx.actor,
            "scan",
            inputs={"paths": [str(p) for p in paths_given]},
            details={
                "case": case,
                **summary,
                "errors": len(report.errors),
                "archives": report.archives,
            },
        )
    )
    return report


def _resumes(record: VideoRecord) -> str:
    """What an analysis failure left of a video, for its report."""
    faces, _ = record.counts()
    return (
        f"the video stays unfinished with the {faces} faces stored before it; the next scan "
        "resumes it from there"
    )


def _hash_or_report(path: Path, report: ScanReport) -> str | None:
    try:
        return sha256_file(path)
    except OSError as exc:
        report.errors.append((str(path), f"cannot read: {exc.strerror or exc}"))
        return None


def _read_wacz(
    ctx: Context,
    path: Path,
    files: list[Path],
    sources: dict[Path, list[MediaSource]],
    report: ScanReport,
) -> None:
    """Keep a web archive's trusted photos and videos (private copies in the workspace) and
    add them to the scan with their captures; report everything not taken."""
    try:
        archive = read_wacz(path, lambda stream, suffix: keep_copy(ctx.folder, stream, suffix))
    except ArchiveError as exc:
        report.errors.append((exc.path, exc.reason))
        return
    report.errors.extend(archive.problems)
    report.skipped.extend(archive.skipped)
    report.archives.append(
        {
            "path": str(path),
            "kind": "wacz",
            "sha256": archive.sha256,
            "signed": archive.signed,
            "pages": archive.pages,
            "media": len(archive.media),
            "other_responses": archive.other_responses,
        }
    )
    for kept, source in archive.media:
        if kept not in sources:
            files.append(kept)
        sources.setdefault(kept, []).append(source)


def _add_sources(ctx: Context, tx: Tx, sha: str, seen_in: list[MediaSource]) -> int:
    """Record the posts and captures a stored file was seen in, with their audit entry; how
    many were new (counted by the caller once the transaction has committed)."""
    added = tx.add_sources(sha, seen_in)
    if added:
        tx.audit(
            ctx.actor,
            "media.sources",
            objects={"sources": added},
            inputs={"sha256": sha},
            details={"added": [s.to_dict() for s in seen_in if s.key in set(added)]},
        )
    return len(added)


def _already_stored(
    ctx: Context,
    sha: str,
    case: str | None,
    seen_in: list[MediaSource] | None = None,
    report: ScanReport | None = None,
) -> bool:
    """True (and the file filed under the case, with its new sources) when the file was
    analysed before."""

    def check(tx: Tx) -> tuple[bool, int]:
        if tx.media_status(sha) not in COMPLETE:
            return False, 0
        if case:
            tx.file_under_case(sha, case)
        return True, _add_sources(ctx, tx, sha, seen_in or [])

    if ctx.store.read(lambda tx: tx.media_status(sha)) not in COMPLETE:
        return False  # new to the store (most files of a scan): no writing transaction
    stored, added = ctx.store.transaction(check)
    if report is not None:
        report.sources += added
    return stored


def _store_analysis(
    ctx: Context,
    file: tuple[Path, str, list[MediaSource]],
    analysis: AnalyzedImage | str,
    case: str | None,
    report: ScanReport,
) -> None:
    path, sha, seen_in = file

    def store(tx: Tx) -> tuple[bool, int]:
        if isinstance(analysis, str):
            tx.save_failure(path, sha, analysis)
            stored = False
            tx.audit(
                ctx.actor,
                "media.failed",
                inputs={"sha256": sha, "path": str(path)},
                details={"reason": analysis, "case": case},
            )
        else:
            media = store_image(ctx, tx, path, sha, analysis)
            stored = media is not None
            if media is not None:
                audit_stored_image(ctx, tx, media, case)
        if case:
            tx.file_under_case(sha, case)
        return stored, _add_sources(ctx, tx, sha, seen_in)

    stored, added = ctx.store.transaction(store)
    report.sources += added
    if isinstance(analysis, str):
        report.errors.append((str(path), analysis))
    elif stored:
        report.processed += 1
        report.faces += len(analysis.faces)
        if problems := analysis.exif.get(EXIF_ERRORS):
            report.warnings.append(
                (str(path), "damaged EXIF: tags such as the time or GPS position may be "
                 f"missing (the stored EXIF lists why): {'; '.join(problems)}")
            )  # fmt: skip
        if analysis.frames > 1:
            report.skipped.append(
                (str(path), f"frames 2–{analysis.frames} of this multi-frame image were not "
                 "analysed (only the first is)")
            )  # fmt: skip
    else:  # another process stored the same file meanwhile
        report.already_stored += 1


def video_settings(fps: float | None, full_scan_every: float) -> dict[str, Any]:
    """How a video is sampled and tracked: a scan resumes only with the same settings."""
    return {
        "sample_fps": fps,
        "full_scan_every": full_scan_every,
        "tracker": TrackerSettings().to_dict(),
    }


def _track_and_commit(
    ctx: Context,
    pool: Executor,
    path: Path,
    record: VideoRecord,
    tracker: Tracker,
    track: tuple[float | None, float, int, Anchor | None],
    status: DecodeStatus,
    on_frame: Callable[[float], None] | None,
) -> bool:
    """Track the video's faces from where `record` resumes, committing every
    CHECKPOINT_SECONDS of video (and HEARTBEAT_SECONDS of wall time). False when a frame's
    analysis failed: the frames before it are committed and the video released, resumable."""
    fps, full_scan_every, resume_after, anchor = track
    pending: list[FrameFaces] = []
    committed_at, committed_wall = 0.0, time.monotonic()
    for frame in track_video(
        pool,
        path,
        tracker,
        fps=fps,
        status=status,
        skip_until=resume_after,
        anchor=anchor,
        full_scan_every=full_scan_every,
        min_face_px=ctx.engine.min_face_px,
    ):
        pending.append(frame)
        if (
            frame.timestamp - committed_at >= CHECKPOINT_SECONDS
            or time.monotonic() - committed_wall >= HEARTBEAT_SECONDS
        ):
            record.commit(pending, tracker, frame.index)
            pending, committed_at = [], frame.timestamp
            committed_wall = time.monotonic()
        if on_frame is not None:
            on_frame(frame.timestamp)
    if isinstance(status.error, AnalysisFailure):  # the file is not at fault: resumable
        if pending:
            record.commit(pending, tracker, pending[-1].index)
        record.release()
        return False
    record.commit(pending, tracker, status.frames_decoded - 1, status)
    return True


def _open_video(
    ctx: Context, path: Path, sha: str, info: dict[str, Any], settings: dict[str, Any]
) -> tuple[Tracker, tuple[VideoRecord, int, Any] | str]:
    """The video's record to fill (waiting while another process scans it), with the tracker
    restored to where an interrupted scan stopped; or "complete"."""
    while True:  # another process scanning this video: wait for it, or take over when it died
        tracker = Tracker(TrackerSettings(**settings["tracker"]))
        opened = VideoRecord.open(
            ctx.store, ctx.engine.describe(), path, sha, info, settings, tracker, ctx.actor
        )
        if opened != "busy":
            return tracker, opened
        time.sleep(1.0)


def _scan_video(
    ctx: Context,
    pool: Executor,
    file: tuple[Path, str, list[MediaSource]],
    case: str | None,
    sampling: tuple[float | None, float],
    report: ScanReport,
    progress: VideoProgress | None,
) -> None:
    """Store a video's faces and tracks, committing every CHECKPOINT_SECONDS of video.

    An interrupted scan left the media row "scanning" with the frame it got to; with the
    same settings it resumes there, with its open tracks and the full scan that frame
    followed restored from the store: any commit is an exact resume point. Ctrl-C, or any
    other failure here, gives the video up at once, so that a rerun need not wait for this
    process to end or its heartbeat to go stale; so does a frame whose analysis failed (the
    engine, not the file: reported as an error), after committing the frames before it.
    Only a decoding failure ends the video as "partial", which is final.
    """
    path, sha, seen_in = file
    try:
        info = probe_video(path)
    except MediaError as exc:
        _store_analysis(ctx, file, exc.reason, case, report)
        return
    fps, full_scan_every = sampling
    tracker, opened = _open_video(ctx, path, sha, info.to_dict(), video_settings(*sampling))
    if isinstance(opened, str):  # "complete": another process finished it
        _already_stored(ctx, sha, case, seen_in, report)
        report.already_stored += 1
        return
    record, resume_after, anchor = opened

    def file_it(tx: Tx) -> int:
        if case:
            tx.file_media_under_case(record.media_id, case)
        return _add_sources(ctx, tx, sha, seen_in)

    status = DecodeStatus()
    try:
        report.sources += ctx.store.transaction(file_it)
        track = (fps, full_scan_every, resume_after, anchor)
        on_frame = None if progress is None else (lambda t: progress(path, t, info.duration))
        if not _track_and_commit(ctx, pool, path, record, tracker, track, status, on_frame):
            report.errors.append(
                (str(path), AnalysisFailure(f"{status.error}; {_resumes(record)}"))
            )
            return
    except ScanTakenOver as exc:
        lost = f"another process took this video's scan over ({exc.holder}); rerun to check it"
        report.errors.append((str(path), AnalysisFailure(lost)))
        return
    except BaseException:  # Ctrl-C, or a failure that a long-lived process (the web app) outlives
        with contextlib.suppress(Exception):  # the store may be what failed: raise its error
            record.release()
        raise
    faces, tracks = record.counts()
    report.processed += 1
    report.faces += faces
    report.tracks += tracks
    report.video_seconds += status.last_timestamp or 0.0
    if status.error:
        report.partial.append((str(path), status.error))
