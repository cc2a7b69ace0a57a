"""Case reports, read back as a reader would: the PDF's text through pdftotext and its images
through pdfimages (poppler-utils), for a case with confirmed, rejected and unreviewed
candidates, photos and a video."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app as cli
from facesift.reports.case_report import render
from facesift.samples import DemoCase
from facesift.web.app import create_app
from facesift.workflows.report import LEAD_WORDING

POPPLER = shutil.which("pdftotext") and shutil.which("pdfimages")
needs_poppler = pytest.mark.skipif(
    not POPPLER, reason="poppler-utils (pdftotext, pdfimages) not installed: make test installs it"
)
LEAD_START = " ".join(LEAD_WORDING.split()[:9])  # "A face recognition result is an investigative …"


class Case:
    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        result = ws.identify(case="rep")
        faces = [f for f in result.faces if f.candidates and f.candidates[0].above_threshold]
        hoppers = [f for f in faces if f.candidates[0].person == "Grace Hopper"]
        collinses = [f for f in faces if f.candidates[0].person == "Eileen Collins"]
        assert len(hoppers) >= 2 and len(collinses) >= 2, "the demo evidence changed"
        self.confirmed = [hoppers[0], collinses[0]]
        self.rejected = hoppers[1]
        self.unreviewed = [f for f in faces if f not in self.confirmed and f is not self.rejected]
        ws.review(hoppers[0].face_id, "Grace Hopper", "confirm", note="same mole")
        ws.review(collinses[0].face_id, "Eileen Collins", "confirm")
        ws.review(self.rejected.face_id, "Grace Hopper", "reject", note="different ear")
        self.track = next(t for t in result.tracks if t.candidates[0].person == "Grace Hopper")
        ws.review(f"track:{self.track.track_id}", "Grace Hopper", "confirm")
        self.unreviewed_tracks = [
            t for t in result.tracks
            if t is not self.track and t.candidates and t.candidates[0].above_threshold
        ]  # fmt: skip


@pytest.fixture(scope="module")
def case(
    tmp_path_factory: pytest.TempPathFactory, demo: DemoCase, engine: FaceEngine
) -> Iterator[Case]:
    ws = Workspace(tmp_path_factory.mktemp("report") / "ws", engine=engine, actor="ana")
    ws.enroll_folder(demo.gallery)
    ws.scan([demo.evidence, demo.footage], case="rep", workers=1)
    ws.cluster(case="rep", actor="ana")
    yield Case(ws)
    ws.close()


def _text(pdf: Path) -> str:
    out = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True)
    return " ".join(out.stdout.split())  # lines joined: wording may wrap anywhere


def _images(pdf: Path) -> int:
    out = subprocess.run(["pdfimages", "-list", str(pdf)], capture_output=True, text=True)
    return len(out.stdout.strip().splitlines()) - 2  # two header lines


def _sha(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


@needs_poppler
def test_the_pdf_cites_confirmed_people_with_their_evidence(case: Case, tmp_path: Path) -> None:
    pdf = tmp_path / "report.pdf"
    result = CliRunner().invoke(
        cli, ["-w", str(case.ws.path), "report", "--case", "rep", "--format", "pdf",
              "--out", str(pdf)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    text = _text(pdf)
    assert "Grace Hopper" in text and "Eileen Collins" in text
    assert LEAD_START in text
    cited = [f.source.path for f in case.confirmed] + [case.track.source.path]
    for path in cited:
        assert _sha(path) in text, path
    assert f"face {case.rejected.face_id} (case)" not in text  # rejected: absent
    for face in case.unreviewed:
        assert f"face {face.face_id} (case)" not in text  # unreviewed: only when asked for
    for track in case.unreviewed_tracks:
        assert f"track {track.number} (case)" not in text
    assert "UNREVIEWED" not in text
    # Two aligned faces per appearance, a track's other best shots, the clusters' faces.
    best_shots = min(
        3, len([f for f in case.track.best_faces if f != case.track.best_shot.face_id])
    )
    clusters = case.ws.clusters(case="rep").clusters
    assert len(clusters) <= 10  # all shown
    cluster_faces = sum(min(8, len(c.faces)) for c in clusters)
    assert _images(pdf) == 2 * 3 + best_shots + cluster_faces
    # Its SHA-256 is in the audit log, with who made it.
    (entry,) = case.ws.audit_entries(action="export.report")
    assert entry.details["sha256"] == hashlib.sha256(pdf.read_bytes()).hexdigest()
    assert entry.actor != "" and entry.details["format"] == "pdf"


@needs_poppler
def test_unreviewed_candidates_only_when_asked_and_marked(case: Case, tmp_path: Path) -> None:
    made = case.ws.case_report("rep", include_unreviewed=True)
    pdf = tmp_path / "all.pdf"
    pdf.write_bytes(render(made, "pdf"))
    text = _text(pdf)
    for face in case.unreviewed:
        assert f"face {face.face_id} (case)" in text
    for track in case.unreviewed_tracks:
        assert f"track {track.number} (case)" in text
    marked = re.findall(r"unreviewed: not an identification", text, flags=re.IGNORECASE)
    assert len(marked) == len(case.unreviewed) + len(case.unreviewed_tracks)
    assert f"face {case.rejected.face_id} (case)" not in text  # rejected stays out
    statuses = {a.target: a.status for s in made.people for a in s.appearances}
    assert statuses[f"face {case.confirmed[0].face_id}"] == "confirmed"
    assert {statuses[f"face {f.face_id}"] for f in case.unreviewed} == {"unreviewed"}


def test_the_html_is_one_file_and_the_api_serves_the_same_report(case: Case) -> None:
    html = render(case.ws.case_report("rep", people=["Eileen Collins"]), "html").decode()
    assert "<h3>Eileen Collins" in html and "<h3>Grace Hopper" not in html
    assert re.search(r'src="(?!data:)', html) is None  # every image inside the file
    assert "<script" not in html
    case.ws.add_user("rita", "analyst", "rita's password")
    with TestClient(create_app(case.ws, scan_workers=1)) as client:
        token = client.post(
            "/api/token", data={"username": "rita", "password": "rita's password"}
        ).json()["access_token"]
        response = client.get(
            "/api/cases/rep/report",
            params={"format": "pdf"},
            headers={"Authorization": f"Bearer {token}"},
        )
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    digest = response.headers["x-content-sha256"]
    assert digest == hashlib.sha256(response.content).hexdigest()
    entries = case.ws.audit_entries(action="export.report", actor="rita")
    assert [e.details["sha256"] for e in entries] == [digest]
