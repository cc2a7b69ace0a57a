"""Workspace: the public facade over facesift's use cases, one folder of persistent work.

A workspace is a folder holding the SQLite database (the truth) and derived files (the
gallery's vector index, rebuilt whenever it is missing or stale); a team can point it at a
PostgreSQL database instead with `database_url`. Each method delegates to a use-case module
(facesift.workflows.enroll, scan, identify, evidence, calibration, listings) over the
workspace's `Context`.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from facesift.execution import ExecutorFactory, LocalProcesses
from facesift.match.calibration import Calibration
from facesift.match.decision import DEFAULT_DECISION_FMR
from facesift.match.gallery import PeopleIndex
from facesift.match.policy import DecisionPolicy
from facesift.media.image import ImageSource
from facesift.media.video import DEFAULT_SAMPLE_FPS
from facesift.store.records import (
    Account,
    AuditEntry,
    DecisionEntry,
    FaceEntry,
    GalleryChangeEntry,
    MediaEntry,
    PersonEntry,
)
from facesift.store.vectors import VectorIndexes
from facesift.vision.engine import FaceEngine
from facesift.workflows import (
    accounts,
    audit,
    cluster_review,
    cooccurrence,
    discovery,
    enroll,
    evidence,
    identify,
    listings,
    report,
    review,
    scan,
    seen,
)
from facesift.workflows import calibration as calibrations
from facesift.workflows import timeline as timelines
from facesift.workflows.context import DATABASE_FILE, INDEX_DIR, open_context
from facesift.workflows.results import (
    CalibrationStatus,
    ClusterListing,
    ClusterOperationEntry,
    ClusterOperationResult,
    ClusterView,
    Cooccurrence,
    Decision,
    EnrollOutcome,
    EvidenceFrame,
    IdentifyResult,
    ScanReport,
    SearchResult,
    SeenBefore,
    Timeline,
    Verification,
)
from facesift.workflows.scan import ScanProgress, VideoProgress
from facesift.workflows.video import DEFAULT_FULL_SCAN_EVERY

__all__ = ["DATABASE_FILE", "INDEX_DIR", "Workspace"]


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
        executor: ExecutorFactory = LocalProcesses,
        indexes: VectorIndexes | None = None,
        actor: str | None = None,
    ) -> None:
        """`decision_fmr`: the estimated false-match rate at which `above_threshold` and
        `same_person` are decided, turned into a score by the calibration in force (see
        `policy`); `threshold`, a raw score, overrides it. `executor` and `indexes`: where
        analysis runs and where gallery vectors are searched (local processes, FAISS files).
        `actor`: who is named in the audit log for what this workspace does (default: the
        operating-system user)."""
        self.context = open_context(
            path,
            engine=engine,
            database_url=database_url,
            threshold=threshold,
            decision_fmr=decision_fmr,
            executor=executor,
            indexes=indexes,
            actor=actor,
        )
        self.path = self.context.folder
        self.engine = self.context.engine
        self.database_url = self.context.store.url

    def close(self) -> None:
        self.context.store.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -------------------------------------------------------------------------- calibration
    def calibration_file(self, low_res: bool = False) -> Path:
        return calibrations.calibration_file(self.context, low_res)

    def shipped_calibration(self, low_res: bool = False) -> Calibration | None:
        return calibrations.shipped_calibration(self.context, low_res)

    def reference_calibration(self, low_res: bool = False) -> Calibration | None:
        return calibrations.reference_calibration(self.context, low_res)

    def save_calibration(self, fitted: Calibration, low_res: bool = False) -> None:
        calibrations.save_calibration(self.context, fitted, low_res)

    def own_calibration(self, case: str | None = None) -> Calibration | None:
        return calibrations.own_calibration(self.context, case)

    def policy(self, case: str | None = None) -> DecisionPolicy:
        return calibrations.policy(self.context, case)

    def calibration_status(self, case: str | None = None) -> CalibrationStatus:
        return calibrations.calibration_status(self.context, case)

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

    def threshold_for_low_res(self) -> float:
        """The score at which a low-resolution match is as rare among different people as a
        standard match at the decision threshold (the threshold itself when uncalibrated)."""
        return self.policy().low_res_threshold

    # ---------------------------------------------------------------------------- gallery
    def enroll(
        self, person: str, files: Iterable[str | Path], attributes: dict[str, Any] | None = None
    ) -> list[EnrollOutcome]:
        return enroll.enroll(self.context, person, files, attributes)

    def enroll_folder(
        self, root: str | Path, metadata: dict[str, dict[str, Any]] | None = None
    ) -> list[EnrollOutcome]:
        return enroll.enroll_folder(self.context, root, metadata)

    def remove_person(self, name: str, *, actor: str, note: str | None = None) -> list[int]:
        return enroll.remove_person(self.context, name, actor=actor, note=note)

    def unenroll_face(self, face_id: int, *, actor: str, note: str | None = None) -> str:
        return enroll.unenroll_face(self.context, face_id, actor=actor, note=note)

    def gallery_changes(self) -> list[GalleryChangeEntry]:
        return enroll.gallery_changes(self.context)

    def gallery(self, *, low_res: bool = False) -> PeopleIndex:
        return identify.gallery(self.context, low_res=low_res)

    # ------------------------------------------------------------------------------- scan
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
        executor: ExecutorFactory | None = None,
    ) -> ScanReport:
        return scan.scan(
            self.context,
            paths,
            case=case,
            progress=progress,
            workers=workers,
            fps=fps,
            full_scan_every=full_scan_every,
            video_progress=video_progress,
            skip_hidden=skip_hidden,
            executor=executor,
        )

    # --------------------------------------------------------------------------- matching
    def decision(self, policy: DecisionPolicy | None = None) -> Decision:
        return identify.decision(self.context, policy or self.policy())

    def search(
        self,
        image: ImageSource,
        *,
        top: int = 5,
        fps: float | None = DEFAULT_SAMPLE_FPS,
        full_scan_every: float = DEFAULT_FULL_SCAN_EVERY,
        workers: int | None = None,
    ) -> SearchResult:
        return identify.search(
            self.context, image, top=top, fps=fps, full_scan_every=full_scan_every, workers=workers
        )

    def identify(self, *, case: str | None = None, top: int = 5) -> IdentifyResult:
        return identify.identify(self.context, case=case, top=top)

    def verify(self, image_a: ImageSource, image_b: ImageSource) -> Verification:
        return identify.verify(self.context, image_a, image_b)

    # --------------------------------------------------------------------------- evidence
    def evidence_frame(
        self, path: str | Path, *, seconds: float | None = None, index: int | None = None
    ) -> EvidenceFrame:
        return evidence.evidence_frame(self.context, path, seconds=seconds, index=index)

    def face_crop(self, face_id: int) -> bytes | None:
        return evidence.face_crop(self.context, face_id)

    def record_export(
        self, what: str, *, sha256: str | None, out: str | None, details: dict[str, Any]
    ) -> None:
        evidence.record_export(self.context, what, sha256=sha256, out=out, details=details)

    # ---------------------------------------------------------------------------- listings
    def people(self) -> list[PersonEntry]:
        return listings.people(self.context)

    def media(self, case: str | None = None) -> list[MediaEntry]:
        return listings.media(self.context, case)

    def faces(self, *, person: str | None = None, case: str | None = None) -> list[FaceEntry]:
        return listings.faces(self.context, person=person, case=case)

    # -------------------------------------------------------------------- unknown people
    def cluster(self, *, case: str | None = None, actor: str, full: bool = False) -> ClusterListing:
        return discovery.cluster(self.context, case=case, actor=actor, full=full)

    def clusters(
        self, *, case: str | None = None, states: Iterable[str] = ("open",)
    ) -> ClusterListing:
        return discovery.clusters(self.context, case=case, states=states)

    def cluster_view(self, cluster_id: int, *, case: str | None = None) -> ClusterView:
        return discovery.show(self.context, cluster_id, case=case)

    def merge_clusters(
        self, into: int, other: int, *, case: str | None = None, actor: str
    ) -> ClusterOperationResult:
        return cluster_review.merge(self.context, into, other, case=case, actor=actor)

    def split_cluster(
        self, cluster_id: int, face_ids: Iterable[int], *, case: str | None = None, actor: str
    ) -> ClusterOperationResult:
        return cluster_review.split(self.context, cluster_id, face_ids, case=case, actor=actor)

    def name_cluster(
        self,
        cluster_id: int,
        person: str,
        *,
        case: str | None = None,
        actor: str,
        attributes: dict[str, Any] | None = None,
    ) -> ClusterOperationResult:
        return cluster_review.name(
            self.context, cluster_id, person, case=case, actor=actor, attributes=attributes
        )

    def mark_cluster(
        self, cluster_id: int, state: str, *, case: str | None = None, actor: str
    ) -> ClusterOperationResult:
        return cluster_review.mark(self.context, cluster_id, state, case=case, actor=actor)

    def undo_cluster_operation(
        self, operation_id: int, *, case: str | None = None, actor: str
    ) -> ClusterOperationResult:
        return cluster_review.undo(self.context, operation_id, case=case, actor=actor)

    def cluster_operations(self, *, case: str | None = None) -> list[ClusterOperationEntry]:
        return discovery.operations(self.context, case=case)

    def cooccur(
        self,
        subject: str,
        *,
        case: str | None = None,
        window: float = cooccurrence.DEFAULT_WINDOW_S,
    ) -> Cooccurrence:
        return cooccurrence.cooccur(self.context, subject, case=case, window=window)

    def seen_before(self, image: ImageSource, *, top: int = 20) -> SeenBefore:
        return seen.seen_before(self.context, image, top=top)

    def timeline(self, subject: str, *, case: str | None = None, leads: bool = False) -> Timeline:
        return timelines.timeline(self.context, subject, case=case, leads=leads)

    # ------------------------------------------------------------------------------ review
    def review(
        self,
        target: str | int,
        person: str,
        verdict: str,
        *,
        note: str | None = None,
        case: str | None = None,
    ) -> DecisionEntry:
        return review.review(self.context, target, person, verdict, note=note, case=case)

    def check_decision(
        self, decision_id: int, outcome: str, *, note: str | None = None
    ) -> DecisionEntry:
        return review.check(self.context, decision_id, outcome, note=note)

    def decisions(self, *, case: str | None = None) -> list[DecisionEntry]:
        return review.decisions(self.context, case=case)

    # ------------------------------------------------------------------ accounts and audit
    def add_user(self, name: str, role: str, password: str) -> Account:
        return accounts.add_user(self.context, name, role, password)

    def users(self) -> list[Account]:
        return accounts.users(self.context)

    def set_password(self, name: str, password: str) -> None:
        accounts.set_password(self.context, name, password)

    def set_role(self, name: str, role: str) -> None:
        accounts.set_role(self.context, name, role)

    def disable_user(self, name: str, disabled: bool = True) -> None:
        accounts.set_disabled(self.context, name, disabled)

    def audit_entries(
        self,
        *,
        since: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        return audit.entries(
            self.context, since=since, actor=actor, action=action, after_seq=after_seq, limit=limit
        )

    def verify_audit(
        self, *, checkpoint: str | None = None, verifier: str | None = None
    ) -> audit.AuditCheck:
        return audit.verify(self.context, note=checkpoint, verifier=verifier)

    def audit_checkpoint(self) -> str:
        return audit.checkpoint(self.context)

    def audit_verifier_key(self) -> str:
        return audit.verifier_key(self.context)

    # ----------------------------------------------------------------------------- reports
    def case_report(
        self, case: str, *, people: Iterable[str] | None = None, include_unreviewed: bool = False
    ) -> report.CaseReport:
        return report.case_report(
            self.context, case, people=people, include_unreviewed=include_unreviewed
        )

    def record_report(self, case: str, fmt: str, data: bytes, out: str | None) -> str:
        return report.record_report(self.context, case, fmt, data, out)


# Each method is documented by the use case it delegates to (help(Workspace.scan) shows it).
for _method, _use_case in {
    "calibration_file": calibrations.calibration_file,
    "shipped_calibration": calibrations.shipped_calibration,
    "reference_calibration": calibrations.reference_calibration,
    "save_calibration": calibrations.save_calibration,
    "own_calibration": calibrations.own_calibration,
    "policy": calibrations.policy,
    "calibration_status": calibrations.calibration_status,
    "enroll": enroll.enroll,
    "enroll_folder": enroll.enroll_folder,
    "remove_person": enroll.remove_person,
    "unenroll_face": enroll.unenroll_face,
    "gallery_changes": enroll.gallery_changes,
    "gallery": identify.gallery,
    "scan": scan.scan,
    "decision": identify.decision,
    "search": identify.search,
    "identify": identify.identify,
    "verify": identify.verify,
    "evidence_frame": evidence.evidence_frame,
    "face_crop": evidence.face_crop,
    "record_export": evidence.record_export,
    "people": listings.people,
    "media": listings.media,
    "faces": listings.faces,
    "cluster": discovery.cluster,
    "clusters": discovery.clusters,
    "cluster_view": discovery.show,
    "merge_clusters": cluster_review.merge,
    "split_cluster": cluster_review.split,
    "name_cluster": cluster_review.name,
    "mark_cluster": cluster_review.mark,
    "undo_cluster_operation": cluster_review.undo,
    "cluster_operations": discovery.operations,
    "cooccur": cooccurrence.cooccur,
    "review": review.review,
    "check_decision": review.check,
    "decisions": review.decisions,
    "add_user": accounts.add_user,
    "users": accounts.users,
    "set_password": accounts.set_password,
    "set_role": accounts.set_role,
    "disable_user": accounts.set_disabled,
    "audit_entries": audit.entries,
    "verify_audit": audit.verify,
    "audit_checkpoint": audit.checkpoint,
    "audit_verifier_key": audit.verifier_key,
    "case_report": report.case_report,
    "record_report": report.record_report,
}.items():
    getattr(Workspace, _method).__doc__ = _use_case.__doc__
