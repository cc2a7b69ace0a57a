"""Workspace: the use cases (enrol, scan, search, identify, verify) over one store.

A workspace is a folder holding the SQLite database (the truth) and derived files (the
gallery's vector index, rebuilt whenever it is missing or stale). A team can point it at a
PostgreSQL database instead with `database_url`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy.orm import Session

from facesift.errors import MediaError, WorkspaceError
from facesift.match.calibration import Calibration, band
from facesift.match.decision import CALIBRATED_NOTE, DEFAULT_THRESHOLD, SCORE_NOTE
from facesift.match.gallery import GalleryIndex, PersonHit
from facesift.media.files import iter_media_files, sha256_file
from facesift.media.image import ImageSource, load_image
from facesift.store import repository as repo
from facesift.store.database import make_sessions, open_engine, sqlite_url
from facesift.store.schema import Face as FaceRow
from facesift.store.schema import Media
from facesift.vision.engine import FaceEngine
from facesift.vision.face import Face, choose_primary
from facesift.vision.quality import Quality
from facesift.workflows.analysis import AnalysisPool, AnalyzedImage, analyzed_image, default_workers
from facesift.workflows.results import (
    Candidate,
    Decision,
    EnrollOutcome,
    FaceMatches,
    IdentifyResult,
    ScanReport,
    SearchResult,
    Verification,
)

DATABASE_FILE = "facesift.db"
INDEX_DIR = "index"

# Called after each file of a scan: (path, files done, files in all).
ScanProgress = Callable[[Path, int, int], None]


class Workspace:
    """All of facesift's persistent work: a gallery of known people and scanned media."""

    def __init__(
        self,
        path: str | Path,
        *,
        engine: FaceEngine | None = None,
        database_url: str | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.engine = engine or FaceEngine()
        self.threshold = threshold
        self.database_url = database_url or sqlite_url(self.path / DATABASE_FILE)
        self._db = open_engine(self.database_url)
        self._sessions = make_sessions(self._db)
        self._gallery: GalleryIndex | None = None
        self._gallery_stamp: dict[str, object] | None = None
        self._calibration: tuple[int | None, Calibration | None] | None = None

    @property
    def calibration_path(self) -> Path:
        return self.path / f"calibration-{self.engine.model_name}.json"

    @property
    def calibration(self) -> Calibration | None:
        """The workspace's own calibration for this model if it has one, else the shipped one."""
        path = self.calibration_path
        stamp = path.stat().st_mtime_ns if path.is_file() else None
        if self._calibration is None or self._calibration[0] != stamp:
            own = Calibration.load(path) if stamp is not None else None
            if own is not None and own.model_sha256 != self.engine.model_sha256:
                own = None
            self._calibration = (stamp, own or self.engine.calibration)
        return self._calibration[1]

    def save_calibration(self, calibration: Calibration) -> None:
        if calibration.model_sha256 != self.engine.model_sha256:
            raise WorkspaceError("the calibration was fitted for another model")
        calibration.save(self.calibration_path)

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
        with self._sessions.begin() as session:
            repo.get_or_create_person(session, person, attributes)
        return [self._enroll_file(person, Path(f)) for f in iter_media_files(files)]

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

    def _enroll_file(self, person: str, path: Path) -> EnrollOutcome:
        try:
            sha = sha256_file(path)
            with self._sessions.begin() as session:
                media = repo.find_media(session, sha)
                if media is None or media.status != "ok":
                    decoded = load_image(path)
                    faces = self.engine.analyze_pixels(decoded.pixels, thorough=True)
                    media = self._store_media(session, path, sha, analyzed_image(decoded, faces))
                shape = (media.height or 0, media.width or 0)
                face, why = choose_primary(media.faces, shape, "largest")
                if face is None:
                    status = "no_face" if not media.faces else "ambiguous"
                    return EnrollOutcome(str(path), person, status, why)
                owner = repo.get_or_create_person(session, person)
                if face.person_id == owner.id:
                    return EnrollOutcome(
                        str(path), person, "already_enrolled", "already enrolled", face.id
                    )
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
                face.person_id = owner.id
                repo.bump_gallery_version(session)
                return EnrollOutcome(str(path), person, "enrolled", why, face.id)
        except MediaError as exc:
            return EnrollOutcome(str(path), person, "unreadable", exc.reason)
        except OSError as exc:
            return EnrollOutcome(str(path), person, "unreadable", exc.strerror or str(exc))

    # ---------------------------------------------------------------------------------- scan
    def scan(
        self,
        paths: Iterable[str | Path],
        *,
        case: str | None = None,
        progress: ScanProgress | None = None,
        workers: int | None = None,
    ) -> ScanReport:
        """Store every face of every supported photo under `paths`, with provenance.

        Files already stored (same SHA-256) are not analysed again, so a rerun after an
        interruption resumes where it stopped. Each file is committed on its own: Ctrl-C loses
        at most the files in progress. Bad files are reported and the scan goes on. `workers`
        processes analyse files in parallel (default: one per core).
        """
        started = time.perf_counter()
        files = list(iter_media_files(paths))
        report = ScanReport(files=len(files))
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
                    yield (path, sha), path
                    continue
                if sha is not None:
                    report.already_stored += 1
                advance(path)

        workers = default_workers() if workers is None else workers
        try:
            with AnalysisPool(self.engine, min(workers, len(files))) as pool:
                for (path, sha), analysis in pool.imap(pending()):
                    self._store_analysis(path, sha, analysis, case, report)
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
        with self._sessions.begin() as session:
            media = repo.find_media(session, sha)
            if media is None or media.status != "ok":
                return False
            if case_name:
                repo.link_case(session, repo.get_or_create_case(session, case_name), media)
            return True

    def _store_analysis(
        self,
        path: Path,
        sha: str,
        analysis: AnalyzedImage | str,
        case_name: str | None,
        report: ScanReport,
    ) -> None:
        with self._sessions.begin() as session:
            if isinstance(analysis, str):
                media = self._store_error(session, path, sha, analysis)
                report.errors.append((str(path), analysis))
            else:
                media = self._store_media(session, path, sha, analysis)
                report.processed += 1
                report.faces += len(analysis.faces)
            if case_name:
                repo.link_case(session, repo.get_or_create_case(session, case_name), media)

    def _store_media(
        self, session: Session, path: Path, sha: str, analysis: AnalyzedImage
    ) -> Media:
        """Write an analysed file and all its faces (replacing an earlier failed attempt)."""
        previous = repo.find_media(session, sha)
        if previous is not None:
            session.delete(previous)
            session.flush()
        media = Media(
            sha256=sha,
            path=str(path.resolve()),
            size=path.stat().st_size,
            kind="image",
            format=analysis.format,
            width=analysis.width,
            height=analysis.height,
            exif=analysis.exif,
            status="ok",
            analysis=self.engine.describe(),
        )
        media.faces = [self._face_row(face) for face in analysis.faces]
        session.add(media)
        session.flush()
        return media

    def _store_error(self, session: Session, path: Path, sha: str, reason: str) -> Media:
        media = repo.find_media(session, sha)
        if media is None:
            media = Media(sha256=sha, path=str(path.resolve()), size=path.stat().st_size)
            session.add(media)
        media.status, media.error = "error", reason
        session.flush()
        return media

    def _face_row(
        self, face: Face, frame_index: int = 0, timestamp: float | None = None
    ) -> FaceRow:
        x1, y1, x2, y2 = face.bbox
        return FaceRow(
            frame_index=frame_index,
            timestamp=timestamp,
            x1=x1,
            y1=y1,
            x2=x2,
            y2=y2,
            landmarks=face.landmarks.round(2).tolist(),
            det_score=face.det_score,
            detector=face.detector,
            face_px=face.quality.face_px,
            sharpness=face.quality.sharpness,
            quality=face.quality.score,
            embedding=repo.encode_vector(face.embedding),
            model_name=self.engine.model_name,
            model_sha256=self.engine.model_sha256,
        )

    # --------------------------------------------------------------------------- matching
    def gallery(self) -> GalleryIndex:
        """The vector index of enrolled faces, loaded or rebuilt from the database."""
        with self._sessions() as session:
            stamp: dict[str, object] = {
                "gallery_version": repo.gallery_version(session),
                "model_name": self.engine.model_name,
                "model_sha256": self.engine.model_sha256,
            }
            if self._gallery is not None and self._gallery_stamp == stamp:
                return self._gallery
            index_path = self.path / INDEX_DIR / f"{self.engine.model_name}.faiss"
            gallery = GalleryIndex.load(index_path, stamp)
            if gallery is None:
                gallery = GalleryIndex(
                    *repo.gallery_vectors(session, self.engine.model_name, self.engine.model_sha256)
                )
                gallery.save(index_path, stamp)
        self._gallery, self._gallery_stamp = gallery, stamp
        return gallery

    def decision(self) -> Decision:
        calibration = self.calibration
        if calibration is None:
            return Decision(self.threshold, self.engine.describe(), SCORE_NOTE)
        source = {
            "impostor_pairs": calibration.impostor_pairs,
            "model_sha256": calibration.model_sha256,
            **{k: v for k, v in calibration.provenance.items() if k != "pipeline"},
            "threshold_fmr_1e-3": round(calibration.threshold_for(1e-3), 4),
            "threshold_fmr_1e-2": round(calibration.threshold_for(1e-2), 4),
        }
        return Decision(self.threshold, self.engine.describe(), CALIBRATED_NOTE, source)

    def _evidence(self, score: float) -> tuple[float | None, str]:
        """Estimated FMR and band of a score, or (None, "uncalibrated")."""
        calibration = self.calibration
        if calibration is None:
            return None, "uncalibrated"
        fmr = float(calibration.fmr_for(score))
        return fmr, band(fmr)

    def _candidates(self, vectors: np.ndarray, top: int) -> list[list[Candidate]]:
        gallery = self.gallery()
        hits = gallery.search(vectors, top) if len(vectors) else []
        with self._sessions() as session:
            people = repo.people_by_id(session, sorted({h.person_id for row in hits for h in row}))
            return [[self._candidate(h, people) for h in row] for row in hits]

    def _candidate(self, hit: PersonHit, people: dict[int, Any]) -> Candidate:
        person = people[hit.person_id]
        fmr, strength = self._evidence(hit.score)
        return Candidate(
            person=person.name,
            person_id=person.id,
            score=hit.score,
            above_threshold=hit.score >= self.threshold,
            best_face_id=hit.face_id,
            attributes=dict(person.attributes or {}),
            fmr=fmr,
            band=strength,
        )

    def search(self, image: ImageSource, *, top: int = 5) -> SearchResult:
        """Every face in `image` with its `top` ranked gallery candidates."""
        decoded = load_image(image)
        faces = self.engine.analyze_pixels(decoded.pixels, thorough=True)
        candidates = self._candidates(np.array([f.embedding for f in faces]), top)
        is_path = isinstance(image, str | Path)
        return SearchResult(
            image=str(image) if is_path else "<in memory>",
            sha256=sha256_file(image) if is_path else None,
            width=decoded.width,
            height=decoded.height,
            faces=[
                FaceMatches(f.bbox, f.det_score, f.quality, c)
                for f, c in zip(faces, candidates, strict=True)
            ],
            decision=self.decision(),
            gallery_people=self.gallery().people,
        )

    def identify(self, *, case: str | None = None, top: int = 5) -> IdentifyResult:
        """Every stored, not enrolled face (of one case, or all) against the gallery."""
        with self._sessions() as session:
            if case is not None and not repo.case_exists(session, case):
                raise WorkspaceError(f"no case named {case!r} in this workspace")
            rows = [
                r
                for r in repo.unenrolled_faces(session, case)
                if r.model_sha256 == self.engine.model_sha256
            ]
        vectors = np.array([repo.decode_vector(r.embedding) for r in rows], dtype=np.float32)
        candidates = self._candidates(vectors, top)
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
        return IdentifyResult(case, faces, self.decision(), self.gallery().people)

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
        fmr, strength = self._evidence(score)
        return Verification(
            same_person=score >= self.threshold,
            score=score,
            fmr=fmr,
            band=strength,
            faces_a=counts[0],
            faces_b=counts[1],
            bbox_a=chosen[0].bbox,
            bbox_b=chosen[1].bbox,
            notes=notes,
            decision=self.decision(),
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
                    "sha256": m.sha256,
                    "size": m.size,
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
                    "bbox": [round(v, 1) for v in f.bbox],
                    "det_score": round(f.det_score, 3),
                    "quality": round(f.quality, 3),
                    "face_px": round(f.face_px, 1),
                    "person": f.person.name if f.person else None,
                    "model": f.model_name,
                }
                for f in repo.list_faces(session, person, case)
            ]
