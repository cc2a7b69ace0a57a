"""Workspace: the use cases (enrol, scan, search, identify, verify) over one store.

A workspace is a folder holding the SQLite database (the truth) and derived files (the
gallery's vector index, rebuilt whenever it is missing or stale). A team can point it at a
PostgreSQL database instead with `database_url`.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from facesift.errors import MediaError, WorkspaceError
from facesift.match.calibration import LOW_RES, Calibration, bundled_calibration
from facesift.match.decision import (
    CALIBRATED_NOTE,
    DEFAULT_DECISION_FMR,
    SCORE_NOTE,
)
from facesift.match.gallery import GalleryIndex, PersonHit, search_people, vectors_sha256
from facesift.match.policy import DecisionPolicy, operating_points, summary
from facesift.match.tracking import Track, Tracker, TrackerSettings
from facesift.media.files import discover, is_video, iter_media_files, sha256_file
from facesift.media.image import ImageSource, load_image
from facesift.media.video import (
    DEFAULT_SAMPLE_FPS,
    DecodeStatus,
    probe_video,
    read_frame_at,
    read_frame_index,
)
from facesift.store import repository as repo
from facesift.store.database import make_sessions, open_engine, sqlite_url, transaction
from facesift.store.schema import Face as FaceRow
from facesift.store.schema import Media
from facesift.store.schema import Track as TrackRow
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Face, choose_primary
from facesift.vision.lowres import uses_low_res_templates
from facesift.vision.quality import Quality
from facesift.workflows.analysis import AnalysisPool, AnalyzedImage, analyzed_image, default_workers
from facesift.workflows.calibration import own_calibration
from facesift.workflows.results import (
    CalibrationStatus,
    Candidate,
    Decision,
    EnrollOutcome,
    EvidenceFrame,
    FaceMatches,
    IdentifyResult,
    ScanReport,
    SearchResult,
    TrackMatches,
    Verification,
)
from facesift.workflows.rows import face_from_row, face_row
from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY, FrameFaces, track_video
from facesift.workflows.video_store import ScanTakenOver, VideoRecord

DATABASE_FILE = "facesift.db"
INDEX_DIR = "index"

# Called after each file of a scan: (path, files done, files in all).
ScanProgress = Callable[[Path, int, int], None]
# Called after each sampled frame of a video: (path, seconds done, duration or None).
VideoProgress = Callable[[Path, float, float | None], None]

# A video scan commits its faces and tracks at least this often (seconds of video), so an
# interruption loses little and a rerun resumes from the last commit; and at least this often
# in wall-clock seconds, so other processes see it is alive (video_store.HEARTBEAT_STALE_SECONDS).
CHECKPOINT_SECONDS = 10.0
HEARTBEAT_SECONDS = 20.0


class Workspace:
    """All of facesift's persistent work: a gallery of known people and scanned media."""

    def __init__(
        self,
        path: str | Path,
        *,
        engine: FaceEngine | None = None,
        database_url: str | None = None,
        threshold: float | None = None,
        decision_fmr: float = DEFAULT_DECISION_FMR,
    ) -> None:
        """`decision_fmr`: the estimated false-match rate at which `above_threshold` and
        `same_person` are decided, turned into a score by the calibration in force (see
        `policy`); `threshold`, a raw score, overrides it."""
        self.path = Path(path)
        if not self.path.exists():  # biometric data: readable by its owner only
            self.path.mkdir(parents=True, mode=0o700)
            os.chmod(self.path, 0o700)
        if not self.path.is_dir():
            raise WorkspaceError(f"{self.path}: the workspace must be a folder")
        if (self.path / INDEX_DIR).exists() and not (self.path / INDEX_DIR).is_dir():
            raise WorkspaceError(
                f"{self.path / INDEX_DIR}: is a file, where the workspace keeps its vector index "
                "(derived from the database): move it away"
            )
        if database_url is None:
            _create_private(self.path / DATABASE_FILE)
        self.engine = engine or FaceEngine()
        self.fixed_threshold = threshold
        self.decision_fmr = decision_fmr
        self.database_url = database_url or sqlite_url(self.path / DATABASE_FILE)
        self._db = open_engine(self.database_url)
        self._sessions = make_sessions(self._db)
        self._galleries: dict[bool, tuple[dict[str, object], GalleryIndex]] = {}
        self._references: dict[bool, tuple[int | None, Calibration | None]] = {}

    def calibration_file(self, low_res: bool = False) -> Path:
        """Where `facesift calibrate FOLDER` keeps the workspace's reference calibration."""
        suffix = LOW_RES if low_res else ""
        return self.path / f"calibration-{self.engine.model_name}{suffix}.json"

    def shipped_calibration(self, low_res: bool = False) -> Calibration | None:
        """The calibration shipped for this engine's exact model file (LFW DevTrain), if any;
        `low_res`: the one for small probe faces against low-resolution templates."""
        return bundled_calibration(self.engine.model_name, self.engine.model_sha256, low_res)

    def reference_calibration(self, low_res: bool = False) -> Calibration | None:
        """The calibration fitted on a labelled reference set for this workspace, if any."""
        path = self.calibration_file(low_res)
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        cached = self._references.get(low_res)
        if cached is None or cached[0] != stamp:
            own = Calibration.load(path) if stamp is not None else None
            if own is not None and own.model_sha256 != self.engine.model_sha256:
                own = None
            cached = self._references[low_res] = (stamp, own)
        return cached[1]

    def save_calibration(self, calibration: Calibration, low_res: bool = False) -> None:
        if calibration.model_sha256 != self.engine.model_sha256:
            raise WorkspaceError("the calibration was fitted for another model")
        calibration.save(self.calibration_file(low_res))

    def own_calibration(self, case: str | None = None) -> Calibration | None:
        """The calibration fitted on this workspace's own different-person pairs (gallery,
        faces seen together), or on the gallery and one case's pictures; None if too few."""
        return own_calibration(self._sessions, self.engine, self.path, case)

    def policy(self, case: str | None = None) -> DecisionPolicy:
        """The decision policy in force for the workspace, or for one case: the baseline
        calibration (a reference set's, else the shipped one), the workspace's own, which
        of them is used, the threshold, and the warnings every result carries."""
        reference = self.reference_calibration()
        reference_low = self.reference_calibration(low_res=True)
        return DecisionPolicy(
            decision_fmr=self.decision_fmr,
            baseline=reference or self.shipped_calibration(),
            local=self.own_calibration(case),
            low_res=reference_low or self.shipped_calibration(low_res=True),
            fixed_threshold=self.fixed_threshold,
            baseline_kind="reference" if reference is not None else "shipped",
            scope="workspace" if case is None else f"case {case!r}",
        )

    @property
    def threshold(self) -> float:
        """The decision threshold (a score) of the workspace's policy."""
        return self.policy().threshold

    @property
    def calibration(self) -> Calibration | None:
        """The calibration the workspace's FMRs come from (see `policy`)."""
        return self.policy().active

    @property
    def low_res_calibration(self) -> Calibration | None:
        """The same for small probe faces matched against low-resolution templates."""
        return self.policy().low_res

    def threshold_for(self, fmr: float, case: str | None = None) -> float:
        """The score at which the FMR in force (its conservative estimate) is `fmr`."""
        return self.policy(case).threshold_for(fmr)

    def fmr_for(self, score: float, case: str | None = None) -> float | None:
        """The estimated FMR (conservative) of a score; None when uncalibrated."""
        return self.policy(case).fmr_for(score)

    def calibration_status(self, case: str | None = None) -> CalibrationStatus:
        """Which calibration is in force for the workspace (or a case), its sources, sample
        sizes and intervals, and the warnings results carry."""
        if case is not None:
            with self._sessions() as session:
                if not repo.case_exists(session, case):
                    raise WorkspaceError(f"no case named {case!r} in this workspace")
        policy = self.policy(case)

        def described(calibration: Calibration | None, kind: str | None) -> dict[str, Any] | None:
            if calibration is None:
                return None
            return {
                "kind": kind,
                **summary(calibration),
                "operating_points": operating_points(calibration),
            }

        return CalibrationStatus(
            scope=policy.scope,
            source=policy.source,
            decision_fmr=None if policy.fixed_threshold is not None else policy.decision_fmr,
            threshold=policy.threshold,
            baseline=described(policy.baseline, policy.baseline_kind),
            own=described(policy.local, "own"),
            population_check=None if policy.check is None else policy.check.to_dict(),
            warnings=policy.warnings,
        )

    def threshold_for_low_res(self) -> float:
        """The score at which a low-resolution match is as rare among different people as a
        standard match at the decision threshold (the threshold itself when uncalibrated)."""
        return self.policy().low_res_threshold

    def close(self) -> None:
        self._db.dispose()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # ----------------------------------------------------------------------------- enrolment
    def enroll(
        self,
        person: str,
        files: Iterable[str | Path],
        attributes: dict[str, Any] | None = None,
    ) -> list[EnrollOutcome]:
        """Add photos of `person` to the gallery: one face per photo, the photo's subject.

        A photo with several faces contributes its largest face, or none when two are of
        similar size (the outcome says so). Each photo is stored in its own transaction.
        """
        person = person.strip()
        if not person:
            raise WorkspaceError("a person's name cannot be empty")
        return [self._enroll_file(person, Path(f), attributes) for f in iter_media_files(files)]

    def enroll_folder(
        self, root: str | Path, metadata: dict[str, dict[str, Any]] | None = None
    ) -> list[EnrollOutcome]:
        """Enrol a folder of per-person subfolders (`Name/*.jpg`); `metadata` is keyed by name."""
        root = Path(root)
        if not root.is_dir():
            raise WorkspaceError(f"{root}: not a folder")
        outcomes: list[EnrollOutcome] = []
        for folder in sorted(
            p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
        ):
            attributes = (metadata or {}).get(folder.name)
            outcomes.extend(self.enroll(folder.name, [folder], attributes))
        return outcomes

    def remove_person(self, name: str, *, actor: str, note: str | None = None) -> list[int]:
        """Take `name` out of the gallery (their faces stay stored, unenrolled); recorded with
        `actor`. The ids of the faces unenrolled."""
        removed = transaction(
            self._sessions, lambda session: repo.remove_person(session, name, actor, note)
        )
        if removed is None:
            raise WorkspaceError(f"no person named {name!r} in the gallery")
        return removed

    def unenroll_face(self, face_id: int, *, actor: str, note: str | None = None) -> str:
        """Unenrol one face (a mistaken enrolment); the face stays stored. Recorded with
        `actor`; a person left without faces is removed. The person's name."""
        person = transaction(
            self._sessions, lambda session: repo.unenroll_face(session, face_id, actor, note)
        )
        if person is None:
            raise WorkspaceError(f"face {face_id} is not an enrolled face")
        return person

    def gallery_changes(self) -> list[dict[str, Any]]:
        """Every correction of the gallery, oldest first: when, who, what."""
        with self._sessions() as session:
            return [
                {
                    "at": c.at.isoformat(),
                    "actor": c.actor,
                    "action": c.action,
                    "person": c.person,
                    "face_ids": list(c.face_ids),
                    "note": c.note,
                }
                for c in repo.gallery_changes(session)
            ]

    def _enroll_file(
        self, person: str, path: Path, attributes: dict[str, Any] | None
    ) -> EnrollOutcome:
        """Enrol one photo's main face. The person is created with their first enrolled face
        (a failed enrolment leaves no empty person); analysis runs before the transaction,
        which is retried when another writer stored the same file first."""
        try:
            sha = sha256_file(path)
            with self._sessions() as session:
                known = repo.find_media(session, sha)
                stored = known is not None and known.status == "ok"
            analysis, pixels = None, None
            if not stored:
                decoded = load_image(path)
                pixels = decoded.pixels
                faces = self.engine.analyze_pixels(pixels, thorough=True)
                analysis = analyzed_image(decoded, faces)
            return transaction(
                self._sessions,
                lambda session: self._enroll_stored(
                    session, person, attributes, path, sha, analysis, pixels
                ),
            )
        except MediaError as exc:
            return EnrollOutcome(str(path), person, "unreadable", exc.reason)
        except OSError as exc:
            return EnrollOutcome(str(path), person, "unreadable", exc.strerror or str(exc))

    def _enroll_stored(
        self,
        session: Session,
        person: str,
        attributes: dict[str, Any] | None,
        path: Path,
        sha: str,
        analysis: AnalyzedImage | None,
        pixels: np.ndarray | None,
    ) -> EnrollOutcome:
        media = repo.find_media(session, sha)
        if media is None or media.status != "ok":
            if analysis is None:  # the record seen before is gone: analyse now
                decoded = load_image(path)
                pixels = decoded.pixels
                analysis = analyzed_image(
                    decoded, self.engine.analyze_pixels(pixels, thorough=True)
                )
            media, _ = self._store_media(session, path, sha, analysis)
        shape = (media.height or 0, media.width or 0)
        face, why = choose_primary(media.faces, shape, "largest")
        if face is None:
            status = "no_face" if not media.faces else "ambiguous"
            return EnrollOutcome(str(path), person, status, why)
        if face.person_id is not None and face.person is not None and face.person.name == person:
            if attributes:
                repo.get_or_create_person(session, person, attributes)
            if face.low_res_embedding is None:  # enrolled before templates existed
                self._add_low_res_template(face, path, pixels)
                repo.bump_gallery_version(session)
            return EnrollOutcome(str(path), person, "already_enrolled", "already enrolled", face.id)
        if face.person_id is not None:
            other = face.person.name if face.person else face.person_id
            return EnrollOutcome(
                str(path), person, "conflict", f"this face is enrolled as {other}", face.id
            )
        if face.model_sha256 != self.engine.model_sha256:
            return EnrollOutcome(
                str(path),
                person,
                "conflict",
                f"stored face was made by another model ({face.model_name})",
                face.id,
            )
        if face.low_res_embedding is None:
            self._add_low_res_template(face, path, pixels)
        face.person_id = repo.get_or_create_person(session, person, attributes).id
        repo.bump_gallery_version(session)
        return EnrollOutcome(str(path), person, "enrolled", why, face.id)

    def _add_low_res_template(self, face: FaceRow, path: Path, pixels: np.ndarray | None) -> None:
        """Give an enrolled face its low-resolution template (facesift.vision.lowres)."""
        pixels = load_image(path).pixels if pixels is None else pixels
        template = self.engine.low_resolution_template(pixels, face_from_row(face))
        face.low_res_embedding = repo.encode_vector(template)

    # ---------------------------------------------------------------------------------- scan
    def scan(
        self,
        paths: Iterable[str | Path],
        *,
        case: str | None = None,
        progress: ScanProgress | None = None,
        workers: int | None = None,
        fps: float | None = DEFAULT_SAMPLE_FPS,
        full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
        video_progress: VideoProgress | None = None,
        skip_hidden: bool = False,
    ) -> ScanReport:
        """Store every face of every supported photo and video under `paths`, with provenance.

        Files already stored (same SHA-256) are not analysed again, so a rerun after an
        interruption resumes where it stopped; a video resumes from its last commit (every
        CHECKPOINT_SECONDS of video). Each photo is committed on its own: Ctrl-C loses at most
        the files in progress. Bad files are reported and the scan goes on. `workers` processes
        analyse photos or video frames in parallel (default: one per core). Videos are sampled
        at `fps` frames per second (None: every frame) and their faces linked into tracks;
        small faces are searched for in the whole frame every `full_scan_every` seconds and
        near known small faces in between (0: every sampled frame in full; see
        facesift.workflows.video). Files are recognised by extension or content; hidden ones
        are scanned unless `skip_hidden`; every file not analysed is in the report's `skipped`.
        """
        started = time.perf_counter()
        found = discover(paths, skip_hidden=skip_hidden)
        files = found.files
        report = ScanReport(files=len(files), skipped=list(found.skipped))
        videos: list[tuple[Path, str]] = []
        done = 0

        def advance(path: Path) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                progress(path, done, len(files))

        def pending() -> Iterator[tuple[tuple[Path, str], Path]]:
            for path in files:
                sha = self._hash_or_report(path, report)
                if sha is not None and not self._already_stored(sha, case):
                    if is_video(path):
                        videos.append((path, sha))  # after the photos, frame by frame
                        continue
                    yield (path, sha), path
                    continue
                if sha is not None:
                    report.already_stored += 1
                advance(path)

        workers = default_workers(self.engine) if workers is None else workers
        if not any(is_video(f) for f in files):  # a video's frames keep every worker busy
            workers = min(workers, len(files))
        try:
            with AnalysisPool(self.engine, max(1, workers)) as pool:
                for (path, sha), analysis in pool.imap(pending()):
                    self._store_analysis(path, sha, analysis, case, report)
                    advance(path)
                for path, sha in videos:
                    self._scan_video(
                        pool, path, sha, case, (fps, full_scan_every), report, video_progress
                    )
                    advance(path)
        except KeyboardInterrupt:
            report.interrupted = True
        report.seconds = time.perf_counter() - started
        return report

    def _hash_or_report(self, path: Path, report: ScanReport) -> str | None:
        try:
            return sha256_file(path)
        except OSError as exc:
            report.errors.append((str(path), f"cannot read: {exc.strerror or exc}"))
            return None

    def _already_stored(self, sha: str, case_name: str | None) -> bool:
        """True (and the file filed under the case) when the file was analysed before."""

        def check(session: Session) -> bool:
            media = repo.find_media(session, sha)
            if media is None or media.status not in repo.COMPLETE:
                return False
            if case_name:
                repo.link_case(session, repo.get_or_create_case(session, case_name), media)
            return True

        return transaction(self._sessions, check)

    def _store_analysis(
        self,
        path: Path,
        sha: str,
        analysis: AnalyzedImage | str,
        case_name: str | None,
        report: ScanReport,
    ) -> None:
        def store(session: Session) -> bool:
            if isinstance(analysis, str):
                media = self._store_error(session, path, sha, analysis)
                stored = False
            else:
                media, stored = self._store_media(session, path, sha, analysis)
            if case_name:
                repo.link_case(session, repo.get_or_create_case(session, case_name), media)
            return stored

        stored = transaction(self._sessions, store)
        if isinstance(analysis, str):
            report.errors.append((str(path), analysis))
        elif stored:
            report.processed += 1
            report.faces += len(analysis.faces)
            if analysis.frames > 1:
                report.skipped.append(
                    (str(path), f"frames 2–{analysis.frames} of this multi-frame image were not "
                     "analysed (only the first is)")
                )  # fmt: skip
        else:  # another process stored the same file meanwhile
            report.already_stored += 1

    def _store_media(
        self, session: Session, path: Path, sha: str, analysis: AnalyzedImage
    ) -> tuple[Media, bool]:
        """Write an analysed file and all its faces (in place of an earlier failed attempt);
        when another writer completed the same file first, its record is kept: (it, False)."""
        media = repo.begin_media(
            session,
            path,
            sha,
            kind="image",
            format=analysis.format,
            width=analysis.width,
            height=analysis.height,
            exif=analysis.exif,
            status="ok",
            analysis=self.engine.describe(),
        )
        if media is None:
            complete = repo.find_media(session, sha)
            assert complete is not None
            return complete, False
        media.faces = [face_row(face, self.engine) for face in analysis.faces]
        session.flush()
        return media, True

    def _store_error(self, session: Session, path: Path, sha: str, reason: str) -> Media:
        """Record why a file could not be analysed (a complete record is never downgraded)."""
        media = repo.find_media(session, sha)
        if media is not None and media.status in repo.COMPLETE:
            return media
        if media is None:
            media = repo.new_media(path, sha)
            session.add(media)
        media.status, media.error = "error", reason
        session.flush()
        return media

    # ------------------------------------------------------------------------------ videos
    def _video_settings(self, fps: float | None, full_scan_every: float) -> dict[str, Any]:
        return {
            "sample_fps": fps,
            "full_scan_every": full_scan_every,
            "tracker": TrackerSettings().to_dict(),
        }

    def _scan_video(
        self,
        pool: AnalysisPool,
        path: Path,
        sha: str,
        case_name: str | None,
        sampling: tuple[float | None, float],
        report: ScanReport,
        progress: VideoProgress | None,
    ) -> None:
        """Store a video's faces and tracks, committing every CHECKPOINT_SECONDS of video.

        An interrupted scan left the media row "scanning" with the frame it got to; with the
        same settings it resumes there, with its open tracks and the full scan that frame
        followed restored from the store: any commit is an exact resume point. Ctrl-C gives
        the video up at once, so that a rerun need not wait for the heartbeat to go stale.
        """
        try:
            info = probe_video(path)
        except MediaError as exc:
            self._store_analysis(path, sha, exc.reason, case_name, report)
            return
        fps, full_scan_every = sampling
        settings = self._video_settings(fps, full_scan_every)
        while True:  # another process scanning this video: wait for it, or take over when it died
            tracker = Tracker(TrackerSettings(**settings["tracker"]))
            opened = VideoRecord.open(
                self._sessions, self.engine, path, sha, info.to_dict(), settings, tracker
            )
            if opened != "busy":
                break
            time.sleep(1.0)
        if isinstance(opened, str):  # "complete": another process finished it
            self._already_stored(sha, case_name)
            report.already_stored += 1
            return
        record, resume_after, anchor = opened
        if case_name:
            transaction(self._sessions, lambda s: _link_case(s, record.media_id, case_name))
        status = DecodeStatus()
        pending: list[FrameFaces] = []
        committed_at, committed_wall = 0.0, time.monotonic()
        try:
            for frame in track_video(
                pool,
                path,
                tracker,
                fps=fps,
                status=status,
                skip_until=resume_after,
                anchor=anchor,
                full_scan_every=full_scan_every,
                min_face_px=self.engine.min_face_px,
            ):
                pending.append(frame)
                if (
                    frame.timestamp - committed_at >= CHECKPOINT_SECONDS
                    or time.monotonic() - committed_wall >= HEARTBEAT_SECONDS
                ):
                    record.commit(pending, tracker, frame.index)
                    pending, committed_at = [], frame.timestamp
                    committed_wall = time.monotonic()
                if progress is not None:
                    progress(path, frame.timestamp, info.duration)
            record.commit(pending, tracker, status.frames_decoded - 1, status)
        except ScanTakenOver:
            report.errors.append(
                (str(path), "another process took this video's scan over; rerun to check it")
            )
            return
        except KeyboardInterrupt:
            record.release()
            raise
        faces, tracks = record.counts()
        report.processed += 1
        report.faces += faces
        report.tracks += tracks
        report.video_seconds += status.last_timestamp or 0.0
        if status.error:
            report.partial.append((str(path), status.error))

    # --------------------------------------------------------------------------- matching
    def gallery(self, *, low_res: bool = False) -> GalleryIndex:
        """The vector index of enrolled faces (or of their low-resolution templates), loaded
        or rebuilt from the database."""
        with self._sessions() as session:
            stamp: dict[str, object] = {
                "gallery_version": repo.gallery_version(session),
                "model_name": self.engine.model_name,
                "model_sha256": self.engine.model_sha256,
                "low_res_templates": low_res,
            }
            cached = self._galleries.get(low_res)
            if cached is not None and cached[0] == stamp:
                return cached[1]
            stored = repo.gallery_vectors(
                session, self.engine.model_name, self.engine.model_sha256, low_res
            )
            suffix = ".low-res.faiss" if low_res else ".faiss"
            index_path = self.path / INDEX_DIR / f"{self.engine.model_name}{suffix}"
            checked = {**stamp, "vectors_sha256": vectors_sha256(*stored)}
            gallery = GalleryIndex.load(index_path, checked)
            if gallery is None:
                gallery = GalleryIndex(*stored)
                gallery.save(index_path, checked)
        self._galleries[low_res] = (stamp, gallery)
        return gallery

    def decision(self, policy: DecisionPolicy | None = None) -> Decision:
        """How scores are judged (the policy's threshold, calibration and warnings)."""
        policy = policy or self.policy()
        note = CALIBRATED_NOTE if policy.calibrated else SCORE_NOTE
        return Decision(
            policy.threshold, self.engine.describe(), note, policy.describe(), policy.warnings
        )

    def _candidates(
        self,
        vectors: np.ndarray,
        top: int,
        face_px: Iterable[float] | None = None,
        policy: DecisionPolicy | None = None,
    ) -> list[list[Candidate]]:
        """Ranked people for each probe vector; probes narrower than LOW_RES_PROBE_PX (given
        `face_px`) are matched against the low-resolution templates."""
        policy = policy or self.policy()
        sizes = list(face_px) if face_px is not None else [float("inf")] * len(vectors)
        small = np.array([uses_low_res_templates(px) for px in sizes], dtype=bool)
        standard = self.gallery()
        low_res = self.gallery(low_res=True) if small.any() else standard
        hits = search_people(standard, low_res, vectors, small, top)
        with self._sessions() as session:
            people = repo.people_by_id(session, sorted({h.person_id for row in hits for h in row}))
            return [
                [_candidate(h, people, policy, bool(low)) for h in row]
                for row, low in zip(hits, small, strict=True)
            ]

    def search(
        self,
        image: ImageSource,
        *,
        top: int = 5,
        fps: float | None = DEFAULT_SAMPLE_FPS,
        full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
        workers: int | None = None,
    ) -> SearchResult:
        """Every face in `image` with its `top` ranked gallery candidates.

        For a video (a path with a video extension) also every track, matched by its template;
        frames are sampled at `fps` and analysed by `workers` processes. Nothing is stored.
        """
        if isinstance(image, str | Path) and is_video(image):
            return self._search_video(Path(image), top, (fps, full_scan_every), workers)
        decoded = load_image(image)
        faces = self.engine.analyze_pixels(decoded.pixels, thorough=True)
        policy = self.policy()
        candidates = self._candidates(
            np.array([f.embedding for f in faces]), top, [f.quality.face_px for f in faces], policy
        )
        path = Path(image) if isinstance(image, str | Path) else None
        return SearchResult(
            image=str(path) if path is not None else "<in memory>",
            sha256=sha256_file(path) if path is not None else None,
            width=decoded.width,
            height=decoded.height,
            faces=[
                FaceMatches(f.bbox, f.det_score, f.quality, c)
                for f, c in zip(faces, candidates, strict=True)
            ],
            decision=self.decision(policy),
            gallery_people=self.gallery().people,
        )

    def _search_video(
        self, path: Path, top: int, sampling: tuple[float | None, float], workers: int | None
    ) -> SearchResult:
        fps, full_scan_every = sampling
        info = probe_video(path)
        status = DecodeStatus()
        tracker = Tracker()
        frames: list[FrameFaces] = []
        with AnalysisPool(self.engine, workers or default_workers(self.engine)) as pool:
            frames = list(
                track_video(
                    pool,
                    path,
                    tracker,
                    fps=fps,
                    status=status,
                    full_scan_every=full_scan_every,
                    min_face_px=self.engine.min_face_px,
                )
            )
        sightings = [s for f in frames for s in f.sightings]
        policy = self.policy()
        face_candidates = self._candidates(
            np.array([s.face.embedding for s in sightings], dtype=np.float32),
            top,
            [s.face.quality.face_px for s in sightings],
            policy,
        )
        track_candidates = self._candidates(
            np.array([t.template() for t in tracker.tracks], dtype=np.float32),
            top,
            [t.best(1)[0].face.quality.face_px for t in tracker.tracks],
            policy,
        )
        faces = [
            FaceMatches(
                s.face.bbox,
                s.face.det_score,
                s.face.quality,
                c,
                source={"frame_index": s.frame_index, "timestamp": round(s.timestamp, 3)},
            )
            for s, c in zip(sightings, face_candidates, strict=True)
        ]
        tracks = [
            _track_matches(t.id, t, c)
            for t, c in zip(tracker.tracks, track_candidates, strict=True)
        ]
        return SearchResult(
            image=str(path),
            sha256=sha256_file(path),
            width=info.width,
            height=info.height,
            faces=faces,
            decision=self.decision(policy),
            gallery_people=self.gallery().people,
            tracks=tracks,
            video={
                **info.to_dict(),
                "sample_fps": fps,
                "full_scan_every": full_scan_every,
                "frames_decoded": status.frames_decoded,
                "seconds_decoded": status.last_timestamp,
                "error": status.error,
            },
        )

    def identify(self, *, case: str | None = None, top: int = 5) -> IdentifyResult:
        """Every stored, not enrolled face (of one case, or all) against the gallery: photo
        faces one by one, video faces by track (matched by the track's template)."""
        with self._sessions() as session:
            if case is not None and not repo.case_exists(session, case):
                raise WorkspaceError(f"no case named {case!r} in this workspace")
            rows = [
                r
                for r in repo.unenrolled_faces(session, case)
                if r.model_sha256 == self.engine.model_sha256 and r.track_id is None
            ]
            track_rows = [
                t
                for t in repo.video_tracks(session, case)
                if t.model_sha256 == self.engine.model_sha256
            ]
            best_faces = repo.best_shot_ids(session, [t.id for t in track_rows])
        policy = self.policy(case)
        vectors = np.array([repo.decode_vector(r.embedding) for r in rows], dtype=np.float32)
        candidates = self._candidates(vectors, top, [r.face_px for r in rows], policy)
        faces = [
            FaceMatches(
                bbox=r.bbox,
                det_score=r.det_score,
                quality=Quality(r.face_px, r.sharpness, r.quality),
                candidates=c,
                face_id=r.id,
                source={
                    "path": r.media.path,
                    "sha256": r.media.sha256,
                    "frame_index": r.frame_index,
                    "timestamp": r.timestamp,
                },
            )
            for r, c in zip(rows, candidates, strict=True)
        ]
        templates = np.array([repo.decode_vector(t.template) for t in track_rows], np.float32)
        tracks = [
            TrackMatches(
                number=t.number,
                start=t.start,
                end=t.end,
                start_frame=t.start_frame,
                end_frame=t.end_frame,
                faces=t.face_count,
                best_shot=_best_shot(t.best_face),
                candidates=c,
                track_id=t.id,
                source={"path": t.media.path, "sha256": t.media.sha256},
                best_faces=best_faces.get(t.id, []),
            )
            for t, c in zip(
                track_rows,
                self._candidates(templates, top, [_best_face_px(t) for t in track_rows], policy),
                strict=True,
            )
        ]
        return IdentifyResult(case, faces, self.decision(policy), self.gallery().people, tracks)

    def face_crop(self, face_id: int) -> bytes | None:
        """The JPEG crop (aligned face chip) kept for a video track's best shot, if any."""
        with self._sessions() as session:
            return repo.face_crop(session, face_id)

    def evidence_frame(
        self, path: str | Path, *, seconds: float | None = None, index: int | None = None
    ) -> EvidenceFrame:
        """The video frame shown at `seconds` (or number `index`) and the faces in it.

        When the video was scanned into this workspace the faces are the stored ones (with
        their ids, tracks and people) for that exact frame; otherwise they are detected now.
        """
        path = Path(path)
        if (seconds is None) == (index is None):
            raise WorkspaceError("give either a time in seconds or a frame index")
        if seconds is not None:
            frame = read_frame_at(path, seconds)
        else:
            assert index is not None
            frame = read_frame_index(path, index)
        sha = sha256_file(path)
        with self._sessions() as session:
            media = repo.find_media(session, sha)
            if media is not None and media.kind == "video":
                faces = [
                    {
                        "face_id": f.id,
                        "bbox": [round(v, 1) for v in f.bbox],
                        "track": f.track.number if f.track else None,
                        "person": f.person.name if f.person else None,
                        "stored": True,
                    }
                    for f in repo.frame_faces(session, media.id, frame.index)
                ]
                return EvidenceFrame(str(path), sha, frame, faces)
        faces = [
            {
                "face_id": None,
                "bbox": [round(v, 1) for v in f.bbox],
                "track": None,
                "person": None,
                "stored": False,
            }
            for f in self.engine.analyze_pixels(frame.pixels)
        ]
        return EvidenceFrame(str(path), sha, frame, faces)

    def verify(self, image_a: ImageSource, image_b: ImageSource) -> Verification:
        """Whether the main faces of two photos are the same person, with the score."""
        notes: list[str] = []
        chosen: list[Face] = []
        counts: list[int] = []
        for label, image in (("A", image_a), ("B", image_b)):
            decoded = load_image(image)
            faces = self.engine.analyze_pixels(decoded.pixels, thorough=True)
            face, why = choose_primary(faces, decoded.pixels.shape, "largest")
            if face is None and faces:  # ambiguous: still compare, but say so
                face, why = (
                    faces[0],
                    why.replace("ambiguous, crop the photo", "took the largest; crop"),
                )
            if face is None:
                raise MediaError(
                    image if isinstance(image, str | Path) else None,
                    f"no face found in image {label}",
                )
            if len(faces) > 1:
                notes.append(f"image {label}: {why}")
            chosen.append(face)
            counts.append(len(faces))
        score = float(
            self.engine.similarity(chosen[0].embedding[None], chosen[1].embedding[None])[0, 0]
        )
        policy = self.policy()
        fmr, strength = policy.evidence(score)
        return Verification(
            same_person=score >= policy.threshold,
            score=score,
            fmr=fmr,
            band=strength,
            faces_a=counts[0],
            faces_b=counts[1],
            bbox_a=chosen[0].bbox,
            bbox_b=chosen[1].bbox,
            notes=notes,
            decision=self.decision(policy),
        )

    # ------------------------------------------------------------------------------ listings
    def people(self) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return [
                {"id": p.id, "name": p.name, "faces": n, "attributes": p.attributes or {}}
                for p, n in repo.list_people(session)
            ]

    def media(self, case: str | None = None) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return [
                {
                    "id": m.id,
                    "path": m.path,
                    "link_target": m.link_target,
                    "sha256": m.sha256,
                    "size": m.size,
                    "kind": m.kind,
                    "format": m.format,
                    "width": m.width,
                    "height": m.height,
                    "faces": n,
                    "status": m.status,
                    "error": m.error,
                    "scanned_at": m.scanned_at.isoformat(),
                }
                for m, n in repo.list_media(session, case)
            ]

    def faces(self, *, person: str | None = None, case: str | None = None) -> list[dict[str, Any]]:
        with self._sessions() as session:
            return [
                {
                    "id": f.id,
                    "path": f.media.path,
                    "sha256": f.media.sha256,
                    "frame_index": f.frame_index,
                    "timestamp": f.timestamp,
                    "track_id": f.track_id,
                    "bbox": [round(v, 1) for v in f.bbox],
                    "det_score": round(f.det_score, 3),
                    "quality": round(f.quality, 3),
                    "face_px": round(f.face_px, 1),
                    "person": f.person.name if f.person else None,
                    "model": f.model_name,
                }
                for f in repo.list_faces(session, person, case)
            ]


def _best_shot(face: FaceRow | None) -> dict[str, Any]:
    if face is None:
        return {}
    return {
        "face_id": face.id,
        "frame_index": face.frame_index,
        "timestamp": None if face.timestamp is None else round(face.timestamp, 3),
        "bbox": [round(v, 1) for v in face.bbox],
        "quality": round(face.quality, 3),
        "face_px": round(face.face_px, 1),
    }


def _track_matches(number: int, track: Track, candidates: list[Candidate]) -> TrackMatches:
    best = track.best(1)[0]
    return TrackMatches(
        number=number,
        start=track.start,
        end=track.end,
        start_frame=track.sightings[0].frame_index,
        end_frame=track.last.frame_index,
        faces=len(track.sightings),
        best_shot={
            "frame_index": best.frame_index,
            "timestamp": round(best.timestamp, 3),
            "bbox": [round(v, 1) for v in best.face.bbox],
            "quality": round(best.face.quality.score, 3),
            "face_px": round(best.face.quality.face_px, 1),
        },
        candidates=candidates,
    )


def _best_face_px(track: TrackRow) -> float:
    return track.best_face.face_px if track.best_face is not None else float("inf")


def _candidate(
    hit: PersonHit, people: dict[int, Any], policy: DecisionPolicy, low_res: bool
) -> Candidate:
    person = people[hit.person_id]
    fmr, strength = policy.evidence(hit.score, low_res)
    threshold = policy.low_res_threshold if low_res else policy.threshold
    return Candidate(
        person=person.name,
        person_id=person.id,
        score=hit.score,
        above_threshold=hit.score >= threshold,
        best_face_id=hit.face_id,
        attributes=dict(person.attributes or {}),
        fmr=fmr,
        band=strength,
    )


def _create_private(path: Path) -> None:
    """Create `path` empty with owner-only permissions unless it exists (SQLite gives its
    journal files the database file's permissions)."""
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))


def _link_case(session: Session, media_id: int, case_name: str) -> None:
    media = session.get(Media, media_id)
    if media is not None:
        repo.link_case(session, repo.get_or_create_case(session, case_name), media)
