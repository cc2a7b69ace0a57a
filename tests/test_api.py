"""The REST API, driven in-process through FastAPI's test client (and once through uvicorn):
access checks enumerated from the OpenAPI document, sign-in, and a whole review."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from PIL import Image
from typer.testing import CliRunner

from facesift import FaceEngine, Workspace
from facesift.cli import app as cli
from facesift.web import pages
from facesift.web.app import create_app
from facesift.web.uploads import UPLOAD_DIR
from facesift.workflows import accounts

PASSWORDS = {"root": "admin password", "ana": "analyst password", "vic": "viewer password"}
ROLES = {"root": "admin", "ana": "analyst", "vic": "viewer"}
PUBLIC = {("post", "/api/token"), ("get", "/api/health")}
RANK = {"viewer": 0, "analyst": 1, "admin": 2}


class Api:
    def __init__(self, client: TestClient, workspace: Workspace) -> None:
        self.client = client
        self.workspace = workspace
        self.tokens = {name: self.login(name) for name in PASSWORDS}

    def login(self, name: str, password: str | None = None) -> str:
        response = self.client.post(
            "/api/token", data={"username": name, "password": password or PASSWORDS[name]}
        )
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])

    def as_(self, name: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[name]}"}


def _open(folder: Path, engine: FaceEngine, database_url: str | None) -> Iterator[Api]:
    workspace = Workspace(folder, engine=engine, database_url=database_url, actor="setup")
    for name, role in ROLES.items():
        workspace.add_user(name, role, PASSWORDS[name])
    with TestClient(create_app(workspace, max_upload_bytes=5_000_000, scan_workers=1)) as client:
        yield Api(client, workspace)
    workspace.close()


@pytest.fixture
def api(tmp_path: Path, engine: FaceEngine) -> Iterator[Api]:
    yield from _open(tmp_path / "ws", engine, None)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_api(request: pytest.FixtureRequest, tmp_path: Path, engine: FaceEngine) -> Iterator[Api]:
    url = request.getfixturevalue("postgres_url") if request.param == "postgres" else None
    yield from _open(tmp_path / "ws", engine, url)


def _operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(m, p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]


def _concrete(path: str) -> str:
    """A path template with placeholder values (the access check comes before any lookup)."""
    values = {"name": "nobody", "sha256": "0" * 64}
    return re.sub(r"\{(\w+)\}", lambda m: values.get(m.group(1), "1"), path)


def test_every_route_refuses_anonymous_callers_and_lower_roles(api: Api) -> None:
    spec = api.client.get("/openapi.json").json()
    operations = _operations(spec)
    assert len(operations) > 30
    checked = 0
    for method, path, op in operations:
        if (method, path) in PUBLIC:
            assert "security" not in op
            continue
        (requirement,) = op["security"]
        (needed,) = requirement["OAuth2PasswordBearer"]
        # Nothing a viewer may call changes stored data (signing out revokes only its token).
        if method != "get" and (method, path) != ("delete", "/api/token"):
            assert RANK[needed] >= RANK["analyst"], (method, path)
        if path.startswith("/api/users") or path.startswith("/api/audit/"):
            assert needed == "admin", (method, path)
        url = _concrete(path)
        anonymous = api.client.request(method, url)
        assert anonymous.status_code == 401, (method, path, anonymous.text)
        assert anonymous.headers["www-authenticate"] == "Bearer"
        forged = api.client.request(method, url, headers={"Authorization": "Bearer forged"})
        assert forged.status_code == 401, (method, path)
        for name, role in ROLES.items():
            response = api.client.request(method, url, headers=api.as_(name))
            if RANK[role] < RANK[needed]:
                assert response.status_code == 403, (method, path, name, response.text)
            else:
                assert response.status_code not in (401, 403), (method, path, name)
            if (method, path) == ("delete", "/api/token"):  # signed out: sign in again
                api.tokens[name] = api.login(name)
        checked += 1
    assert checked == len(operations) - len(PUBLIC)


def test_a_disabled_account_is_locked_out_at_once(api: Api) -> None:
    assert api.client.get("/api/me", headers=api.as_("vic")).json()["role"] == "viewer"
    done = api.client.post("/api/users/vic/disable", headers=api.as_("root"))
    assert done.status_code == 200
    assert api.client.get("/api/me", headers=api.as_("vic")).status_code == 401
    again = api.client.post("/api/token", data={"username": "vic", "password": PASSWORDS["vic"]})
    assert again.status_code == 401
    api.client.post("/api/users/vic/enable", headers=api.as_("root"))
    assert api.login("vic")  # enabled again: a new token, the old one stays revoked
    assert api.client.get("/api/me", headers=api.as_("vic")).status_code == 401


def test_tokens_expire(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "TOKEN_LIFETIME", timedelta(seconds=-1))
    expired = api.login("ana")
    response = api.client.get("/api/me", headers={"Authorization": f"Bearer {expired}"})
    assert response.status_code == 401


def test_signing_out_revokes_the_token(api: Api) -> None:
    assert api.client.delete("/api/token", headers=api.as_("ana")).status_code == 200
    assert api.client.get("/api/me", headers=api.as_("ana")).status_code == 401


def test_sign_in_is_rate_limited_per_account(api: Api) -> None:
    for _ in range(5):
        wrong = api.client.post("/api/token", data={"username": "ana", "password": "guess" * 3})
        assert wrong.status_code == 401
    right = api.client.post("/api/token", data={"username": "ana", "password": PASSWORDS["ana"]})
    assert right.status_code == 429
    assert int(right.headers["retry-after"]) > 0
    assert api.login("vic")  # other accounts are not affected
    failed = api.workspace.audit_entries(actor="ana", action="login.failed")
    assert len(failed) == 5 and all(e.inputs["client"] for e in failed)


def test_uploads_are_kept_by_content_and_checked(api: Api, tmp_path: Path) -> None:
    photo = Image.new("RGB", (64, 48), (200, 30, 30))
    photo.save(tmp_path / "red.png")
    sent = api.client.post(
        "/api/media",
        headers=api.as_("ana"),
        files=[("files", ("../../../etc/passwd", (tmp_path / "red.png").read_bytes()))],
    )
    assert sent.status_code == 200, sent.text
    (kept,) = sent.json()
    assert kept["kind"] == "image" and kept["name"] == "../../../etc/passwd"
    stored = list((api.workspace.path / UPLOAD_DIR).rglob("*.png"))
    assert [p.name for p in stored] == [f"{kept['sha256']}.png"]
    text = api.client.post(
        "/api/media", headers=api.as_("ana"), files=[("files", ("a.jpg", b"not an image"))]
    )
    assert text.status_code == 415 and "a.jpg" in text.json()["detail"]
    mixed = api.client.post(
        "/api/media",
        headers=api.as_("ana"),
        files=[("files", ("good.png", (tmp_path / "red.png").read_bytes())),
               ("files", ("bad.jpg", b"not an image either"))],
    )  # fmt: skip
    assert mixed.status_code == 200  # the good file is kept, the bad one said why not
    good, bad = mixed.json()
    assert good["sha256"] == kept["sha256"] and bad["name"] == "bad.jpg"
    assert bad["status"] == 415 and "neither a photo nor a video" in bad["refused"]
    huge = api.client.post(
        "/api/media", headers=api.as_("ana"), files=[("files", ("b.jpg", b"\xff" * 5_000_001))]
    )
    assert huge.status_code == 413
    leftovers = [p for p in (api.workspace.path / UPLOAD_DIR).iterdir() if p.is_file()]
    assert leftovers == []  # refused uploads leave nothing behind


def _wait_for_job(api: Api, job_id: int, timeout: float = 180.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = api.client.get(f"/api/jobs/{job_id}", headers=api.as_("vic")).json()
        if job["status"] in ("done", "failed", "interrupted"):
            return dict(job)
        time.sleep(0.2)
    raise AssertionError(f"job {job_id} did not finish: {job}")


def test_upload_scan_search_review_and_identify(
    any_api: Api, hopper_path: Path, tmp_path: Path
) -> None:
    api = any_api
    enrolled = api.client.post(
        "/api/people",
        headers=api.as_("ana"),
        data={"name": "Grace Hopper", "attributes": json.dumps({"service": "US Navy"})},
        files=[("files", ("hopper.jpg", hopper_path.read_bytes()))],
    )
    assert enrolled.status_code == 201, enrolled.text
    assert enrolled.json()[0]["status"] == "enrolled"
    # Another file of the same face: smaller, re-encoded.
    evidence = tmp_path / "evidence.png"
    with Image.open(hopper_path) as photo:
        photo.convert("RGB").resize((photo.width * 3 // 4, photo.height * 3 // 4)).save(evidence)
    (upload,) = api.client.post(
        "/api/media", headers=api.as_("ana"), files=[("files", ("e.png", evidence.read_bytes()))]
    ).json()
    started = api.client.post(
        "/api/scans", headers=api.as_("ana"), json={"media": [upload["sha256"]], "case": "c1"}
    )
    assert started.status_code == 202
    job = _wait_for_job(api, started.json()["id"])
    assert job["status"] == "done", job
    assert job["result"]["processed"] == 1 and job["progress"] == {"done": 1, "total": 1}

    searched = api.client.post(
        "/api/search", headers=api.as_("ana"), files={"file": ("probe.png", evidence.read_bytes())}
    )
    assert searched.status_code == 200
    found = searched.json()
    direct = api.workspace.search(found["image"]).to_dict()
    assert found == direct  # the JSON of `facesift search --json`
    assert found["faces"][0]["candidates"][0]["person"] == "Grace Hopper"

    identified = api.client.post("/api/identify", headers=api.as_("ana"), json={"case": "c1"})
    (face,) = identified.json()["faces"]
    assert face["decisions"] == []
    decided = api.client.post(
        "/api/decisions",
        headers=api.as_("ana"),
        json={"target": str(face["face_id"]), "person": "Grace Hopper", "verdict": "confirm",
              "note": "same mole, same uniform", "case": "c1"},
    )  # fmt: skip
    assert decided.status_code == 201, decided.text
    decision = decided.json()
    shown = decision["shown"]
    assert shown["rank"] == 1 and shown["score"] == face["candidates"][0]["score"]
    assert shown["model"]["embedder_sha256"] == api.workspace.engine.model_sha256
    assert decision["reviewer"] == "ana" and decision["status"] == "unverified"
    own = api.client.post(
        f"/api/decisions/{decision['id']}/checks",
        headers=api.as_("ana"),
        json={"outcome": "verified"},
    )
    assert own.status_code == 400 and "second person" in own.json()["detail"]
    checked = api.client.post(
        f"/api/decisions/{decision['id']}/checks",
        headers=api.as_("root"),
        json={"outcome": "verified"},
    )
    assert checked.status_code == 201 and checked.json()["status"] == "verified"
    again = api.client.post("/api/identify", headers=api.as_("ana"), json={"case": "c1"}).json()
    (seen,) = again["faces"][0]["decisions"]
    assert (seen["verdict"], seen["status"], seen["checks"][0]["reviewer"]) == (
        "confirm",
        "verified",
        "root",
    )

    # A search of the stored photo shows the decision made on its face.
    searched_again = api.client.post(
        "/api/search", headers=api.as_("ana"),
        files={"file": ("again.png", evidence.read_bytes())},
    ).json()  # fmt: skip
    assert searched_again["faces"][0]["face_id"] == face["face_id"]
    assert searched_again["faces"][0]["decisions"][0]["id"] == decision["id"]

    entries = api.client.get("/api/audit", headers=api.as_("root")).json()
    by_action = {(e["action"], e["actor"]) for e in entries}
    for expected in [("user.add", "setup"), ("login", "ana"), ("gallery.enroll", "ana"),
                     ("media.upload", "ana"), ("scan.start", "ana"), ("media.store", "ana"),
                     ("search", "ana"), ("identify", "ana"), ("review.decide", "ana"),
                     ("review.check", "root")]:  # fmt: skip
        assert expected in by_action, expected
    search_entry = next(e for e in entries if e["action"] == "search")
    assert search_entry["inputs"]["sha256"] == upload["sha256"]
    assert search_entry["details"]["leads"][0]["person"] == "Grace Hopper"
    mine = api.client.get("/api/audit", headers=api.as_("vic")).json()
    assert {e["actor"] for e in mine} == {"vic"}  # others read only their own entries
    assert api.client.get("/api/audit/verify", headers=api.as_("root")).json()["ok"] is True


def test_a_search_leaves_the_same_audit_entry_through_the_cli_and_the_api(
    api: Api, hopper_path: Path
) -> None:
    api.workspace.enroll("Grace Hopper", [hopper_path])
    via_api = api.client.post(
        "/api/search", headers=api.as_("ana"), files={"file": ("x.jpg", hopper_path.read_bytes())}
    )
    assert via_api.status_code == 200
    result = CliRunner().invoke(
        cli, ["-w", str(api.workspace.path), "--as", "carol", "search", str(hopper_path), "--json"]
    )
    assert result.exit_code == 0, result.output
    first, second = api.workspace.audit_entries(action="search")
    assert (first.actor, second.actor) == ("ana", "carol")
    assert first.inputs["sha256"] == second.inputs["sha256"]
    assert set(first.inputs) == set(second.inputs) and set(first.details) == set(second.details)
    assert first.details["leads"] == second.details["leads"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_server_runs_under_uvicorn(tmp_path: Path) -> None:
    folder = tmp_path / "ws"
    env = {**os.environ, "FACESIFT_WORKSPACE": str(folder)}
    facesift = [sys.executable, "-m", "facesift.cli"]
    made = subprocess.run(
        [*facesift, "users", "add", "root", "--role", "admin", "--password-stdin"],
        input="admin password\n", capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    port = _free_port()
    server = subprocess.Popen(
        [*facesift, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base}/api/health").status_code == 200:
                    break
            except httpx.TransportError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise
                time.sleep(0.2)
        token = httpx.post(
            f"{base}/api/token", data={"username": "root", "password": "admin password"}
        ).json()["access_token"]
        me = httpx.get(f"{base}/api/me", headers={"Authorization": f"Bearer {token}"})
        assert me.json()["name"] == "root"
        assert httpx.get(f"{base}/api/users").status_code == 401
    finally:
        server.terminate()
        server.wait(timeout=30)


def _page_routes() -> list[tuple[str, str]]:
    """Every page route of the app (the routers create_app includes)."""
    from fastapi.routing import APIRoute

    return [
        (method.lower(), route.path)
        for router in pages.ROUTERS
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    ]


def test_every_page_needs_a_session_a_role_and_a_csrf_token(api: Api) -> None:
    """The web app's pages, enumerated from the app: anonymous callers are sent to sign in,
    a viewer may change nothing, and no change is taken without the session's CSRF token."""
    routes = _page_routes()
    assert len(routes) > 15
    public = {("get", "/login"), ("post", "/login")}
    browser = TestClient(api.client.app)
    for method, path in routes:
        url = _concrete(path)
        if (method, path) in public:
            continue
        anonymous = browser.request(method, url, follow_redirects=False)
        assert anonymous.status_code == 303, (method, path)
        assert anonymous.headers["location"].startswith("/login")
    for name in ("vic", "ana"):
        signed_in = TestClient(api.client.app)
        signed_in.post("/login", data={"username": name, "password": PASSWORDS[name]})
        for method, path in routes:
            if method == "get" or (method, path) in public:
                continue
            response = signed_in.request(method, _concrete(path), follow_redirects=False)
            # No CSRF token: refused, whatever the role (a viewer's role is refused first).
            assert response.status_code == 403, (name, method, path)
            if name == "vic" and path != "/logout":
                assert "role" in response.text, path


def test_sign_in_sends_nobody_to_another_site(api: Api) -> None:
    cases = [("/cases/x", "/cases/x"), ("//evil.example", "/cases"),
             ("/\\evil.example", "/cases"), ("https://evil.example", "/cases")]  # fmt: skip
    for target, expected in cases:
        answer = TestClient(api.client.app).post(
            "/login",
            data={"username": "vic", "password": PASSWORDS["vic"], "next": target},
            follow_redirects=False,
        )
        assert answer.headers["location"] == expected, target
