"""A video's faces and tracks, stored while its scan goes on.

The scan commits every few seconds of video. The media row stays "scanning" with the last
frame committed until the end; a rerun with the same settings resumes after that frame, with
the tracks that were still open rebuilt from the store and the full scan that frame followed
(its stored faces: facesift.workflows.video), so it ends as an uninterrupted scan would have.
"""

from __future__ import annotations

import os
import socket
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import update
from sqlalchemy.orm import Session

from facesift.match.tracking import BEST_SHOTS, Anchor, FrameFaces, Sighting, Track, Tracker
from facesift.media.image import encode_jpeg
from facesift.media.video import DecodeStatus
from facesift.store import repository as repo
from facesift.store.audit import AuditLog
from facesift.store.database import transaction
from facesift.store.records import ModelKey
from facesift.store.rows import face_from_row, face_row
from facesift.store.schema import Face as FaceRow
from facesift.store.schema import Media
from facesift.store.schema import Track as TrackRow
from facesift.store.store import Store

# What an interrupted scan must share with this one to be resumed: the models, and how faces
# are searched for (on a GPU the pixel budget follows its free memory, so it can differ).
RESUME_KEYS = ("embedder_sha256", "detector", "min_face_px", "max_detect_pixels")

# A scan in progress marks its video with a token, its process and the time of its last
# commit; another process leaves the video to it (it waits) while that process runs, when on
# the same machine, or else while its last commit is more recent than this (seconds), and
# takes an interrupted scan over after.
HEARTBEAT_STALE_SECONDS = 120.0


class ScanTakenOver(Exception):
    """Another process took this video's scan over (ours looked interrupted); `holder` says
    what the store showed instead of our claim."""

    def __init__(self, path: str, holder: str) -> None:
        super().__init__(f"{path}: {holder}")
        self.holder = holder


class VideoRecord:
    """The stored side of scanning one video: its media row, faces and tracks."""

    def __init__(
        self, store: Store, model: ModelKey, media_id: int, token: str, actor: str
    ) -> None:
        self._sessions = store.sessions
        self.model = model
        self.media_id = media_id
        self.token = token
        self.actor = actor  # who scans it: named in the audit entry of its completion

    @classmethod
    def open(
        cls,
        store: Store,
        described: dict[str, Any],
        path: Path,
        sha: str,
        info: dict[str, Any],
        settings: dict[str, Any],
        tracker: Tracker,
        actor: str,
    ) -> tuple[VideoRecord, int, Anchor | None] | str:
        """The record to fill, the last frame already stored (-1 for a fresh start) and the
        full scan it followed (None for a fresh start), or "complete" (another process
        finished this video) or "busy" (another is scanning it).

        A scan interrupted with the same settings and models resumes: its open tracks are
        restored into `tracker`. An interrupted scan with other settings, or one stored
        without its full scan (by an older facesift), is started afresh. `described`: the
        engine's description (facesift.vision.engine.FaceEngine.describe).
        """
        model = ModelKey(described["embedder"], described["embedder_sha256"])
        token = uuid.uuid4().hex

        def claim(session: Session) -> tuple[VideoRecord, int, Anchor | None] | str:
            media = repo.find_media(session, sha, lock=True)
            if media is not None and media.status in repo.COMPLETE:
                return "complete"
            scanner = (media.analysis or {}).get("scanner") if media is not None else None
            if media is not None and media.status == "scanning" and _alive(scanner):
                return "busy"
            if (
                media is not None
                and media.status == "scanning"
                and media.analysis.get("video") == settings
                and all(media.analysis.get(key) == described[key] for key in RESUME_KEYS)
                and "resume_anchor" in media.analysis
            ):
                resume_after = int(media.analysis.get("resume_after_frame", -1))
                anchor = _anchor(session, media)
                last_time = float(media.analysis.get("resume_after_time", 0.0))
                open_tracks = [
                    _track_from_rows(row)
                    for row in media.tracks
                    if last_time - row.end <= tracker.settings.max_gap
                ]
                next_number = max((t.number for t in media.tracks), default=0) + 1
                tracker.resume(open_tracks, next_number)
                media.analysis = {**media.analysis, "scanner": _scanner(token)}
                return cls(store, model, media.id, token, actor), resume_after, anchor
            fresh = repo.begin_media(
                session,
                path,
                sha,
                kind="video",
                format=info["format"],
                width=info["width"],
                height=info["height"],
                exif=info,
                status="scanning",
                analysis={
                    **described,
                    "video": settings,
                    "resume_after_frame": -1,
                    "resume_anchor": None,
                    "scanner": _scanner(token),
                },
            )
            if fresh is None:
                return "complete"
            return cls(store, model, fresh.id, token, actor), -1, None

        # Retried when another process created the same video's record at the same moment.
        return transaction(store.sessions, claim)

    def commit(
        self,
        frames: list[FrameFaces],
        tracker: Tracker,
        last_frame: int,
        final: DecodeStatus | None = None,
    ) -> None:
        """Store `frames`' faces, update their tracks, and move the resume point forward (with
        the full scan its frame followed: a scan can resume after any commit); with `final`,
        mark the video done ("ok", or "partial" when decoding broke off)."""
        with self._sessions.begin() as session:
            if final is not None:  # this commit is audited: the log before the video's row
                AuditLog(session).reserve()
            media = session.get(Media, self.media_id, with_for_update=True)
            assert media is not None
            if not self._holds(media):
                raise ScanTakenOver(media.path, _holder(media))
            rows = {t.number: t for t in media.tracks}
            touched: set[int] = set()
            for frame in frames:
                for sighting, number in zip(frame.sightings, frame.track_ids, strict=True):
                    row = face_row(sighting.face, self.model, frame.index, frame.timestamp)
                    row.media_id = self.media_id
                    track = rows.get(number)
                    if track is None:
                        track = rows[number] = TrackRow(media_id=self.media_id, number=number)
                        session.add(track)
                    row.track = track
                    session.add(row)
                    sighting.key = row
                    touched.add(number)
            for live in tracker.tracks:
                if live.id in touched:
                    self._summarise(rows[live.id], live)
            session.flush()
            for frame in frames:  # keep ids, not rows that outlive this session
                for sighting in frame.sightings:
                    sighting.key = sighting.key.id
            for live in tracker.tracks:
                if live.id in touched:
                    _keep_best_crops(session, rows[live.id], live)
            time_reached = frames[-1].timestamp if frames else None
            analysis = dict(media.analysis)
            analysis["scanner"] = _scanner(self.token)
            analysis["resume_after_frame"] = last_frame
            if time_reached is not None:
                analysis["resume_after_time"] = time_reached
                analysis["resume_anchor"] = list(frames[-1].anchor)
            if final is not None:
                media.status = "partial" if final.error else "ok"
                media.error = final.error
                analysis["frames_decoded"] = final.frames_decoded
                analysis["seconds_decoded"] = final.last_timestamp
                analysis.pop("scanner", None)
                faces, tracks = repo.count_video(session, self.media_id)
                AuditLog(session).append(
                    self.actor,
                    "media.store",
                    objects={"media": self.media_id},
                    inputs={"sha256": media.sha256, "path": media.path},
                    details={
                        "kind": "video",
                        "status": media.status,
                        "faces": faces,
                        "tracks": tracks,
                        "model": self.model.name,
                        "model_sha256": self.model.sha256,
                    },
                )
            media.analysis = analysis
        if time_reached is not None:
            tracker.forget_closed(time_reached)

    def release(self) -> None:
        """Give the video up, keeping what was committed: a scan stopped in this process
        (Ctrl-C) is then resumed by a rerun at once, not once its heartbeat is stale."""
        with self._sessions.begin() as session:
            media = session.get(Media, self.media_id, with_for_update=True)
            if media is not None and self._holds(media):
                media.analysis = {k: v for k, v in media.analysis.items() if k != "scanner"}

    def counts(self) -> tuple[int, int]:
        """(faces, tracks) stored so far."""
        with self._sessions() as session:
            return repo.count_video(session, self.media_id)

    def _holds(self, media: Media) -> bool:
        """Whether this scan still holds the video (no other process took it over)."""
        return (media.analysis or {}).get("scanner", {}).get("token") == self.token

    def _summarise(self, row: TrackRow, track: Track) -> None:
        best = track.best(1)[0]
        row.start, row.end = track.start, track.end
        row.start_frame = track.sightings[0].frame_index
        row.end_frame = track.last.frame_index
        row.face_count = len(track.sightings)
        if isinstance(best.key, FaceRow):  # stored in this commit: linked once it has an id
            row.best_face = best.key
        else:
            row.best_face_id = best.key
        row.template = repo.encode_vector(track.template())
        row.model_name = self.model.name
        row.model_sha256 = self.model.sha256


def _scanner(token: str) -> dict[str, Any]:
    return {
        "token": token,
        "heartbeat": time.time(),
        "host": socket.gethostname(),
        "pid": os.getpid(),
        "pid_namespace": _pid_namespace(),
        "started": _process_started(os.getpid()),
    }


def _holder(media: Media) -> str:
    """Who holds a video's scan, as the store shows it: for the message of a lost claim."""
    scanner = (media.analysis or {}).get("scanner")
    if not scanner:
        return f"status {media.status!r}, held by no scan"
    age = time.time() - float(scanner.get("heartbeat", 0))
    return (
        f"status {media.status!r}, held by process {scanner.get('pid')} on "
        f"{scanner.get('host')}, which committed {age:.0f} s ago"
    )


def _alive(scanner: dict[str, Any] | None) -> bool:
    """Whether the scan that marked a video may still be running.

    On this machine (the same host name and process ids: not another container that shares
    the host's name): whether its process still runs (the same process id and start time),
    however long ago it last committed: a suspended laptop, or a clock that jumped, must not
    hand a running scan to another, and a scan killed outright is taken over at once.
    Elsewhere, where its processes cannot be seen: whether it committed in the last
    HEARTBEAT_STALE_SECONDS."""
    if not scanner:
        return False
    same_machine = (
        scanner.get("host") == socket.gethostname()
        and scanner.get("pid_namespace") == _pid_namespace()
    )
    if same_machine and scanner.get("pid"):
        return _running(int(scanner["pid"]), scanner.get("started"))
    return time.time() - float(scanner.get("heartbeat", 0)) < HEARTBEAT_STALE_SECONDS


def _running(pid: int, started: float | None) -> bool:
    """Whether process `pid` runs (not a zombie, whose parent has yet to collect it) and,
    where its start time was recorded and can be read now, started then (not a later process
    given the same id)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    state = _proc_stat(pid)
    if state is None:
        return True
    return state[0] not in ("Z", "X") and (started is None or state[1] == started)


def _process_started(pid: int) -> float | None:
    """When process `pid` started, in clock ticks since boot; None where unknown."""
    state = _proc_stat(pid)
    return None if state is None else state[1]


def _pid_namespace() -> str | None:
    """Which process ids this process sees (Linux: one set per container); None elsewhere."""
    try:
        return os.readlink("/proc/self/ns/pid")
    except OSError:
        return None


def _proc_stat(pid: int) -> tuple[str, float] | None:
    """Process `pid`'s state letter and start time, from Linux's /proc; None elsewhere."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rsplit(")", 1)[-1].split()  # after the command name, which may hold spaces
    return (fields[0], float(fields[19])) if len(fields) > 19 else None


def _keep_best_crops(session: Session, row: TrackRow, track: Track) -> None:
    """Store the crops of the track's best shots and drop those of faces no longer among them."""
    best = track.best(BEST_SHOTS)
    best_ids = [s.key for s in best]
    for sighting in best:
        if sighting.face.chip is not None:
            face = session.get(FaceRow, sighting.key)
            if face is not None and face.crop is None:
                face.crop = encode_jpeg(sighting.face.chip)
    session.execute(
        update(FaceRow)
        .where(FaceRow.track_id == row.id, FaceRow.id.not_in(best_ids), FaceRow.crop.is_not(None))
        .values(crop=None)
    )


def _anchor(session: Session, media: Media) -> Anchor | None:
    """The full scan that the last committed frame followed, its faces read back from the
    store (None when nothing was committed)."""
    stored = media.analysis["resume_anchor"]
    if stored is None:
        return None
    index, timestamp = stored
    rows = repo.frame_faces(session, media.id, index)
    return Anchor(index, timestamp, [face_from_row(row) for row in rows])


def _track_from_rows(row: TrackRow) -> Track:
    """A stored track rebuilt for the tracker, so that a resumed scan links to it."""
    return Track(
        row.number,
        [Sighting(f.frame_index, f.timestamp or 0.0, face_from_row(f), f.id) for f in row.faces],
    )
