"""The REST API (FastAPI) and, on the same app, the web app's pages (facesift.web.pages):
sign in, check the role (facesift.web.auth), call a use case, return its JSON (the same
`to_dict()` as the CLI's --json) or render it.

Routes sit on one router per role, so that no route can be added without an access check;
only `POST /api/token`, `GET /api/health` and the OpenAPI pages are public. Analysis that
takes long (scans) runs as a background job (facesift.web.jobs); searches answer in the
request, one analysis at a time (the engine is shared).
"""

from __future__ import annotations

import json
import threading
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import numpy as np
from fastapi import (
    APIRouter,
    Body,
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Security,
    UploadFile,
)
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.security import OAuth2PasswordRequestForm
from fastapi.staticfiles import StaticFiles

from facesift.errors import FacesiftError, NotFound
from facesift.media.image import encode_jpeg
from facesift.reports import case_report as case_reports
from facesift.store.records import Account
from facesift.web import pages, uploads
from facesift.web.auth import PageForbidden, SignInNeeded, acting, authorize, caller
from facesift.web.jobs import JobRunner
from facesift.workflows import (
    accounts,
    audit,
    cluster_review,
    discovery,
    enroll,
    evidence,
    identify,
    listings,
    report,
    review,
    timeline,
)
from facesift.workflows.context import Context
from facesift.workflows.results import EnrollOutcome
from facesift.workflows.workspace import Workspace

Ctx = Annotated[Context, Depends(acting)]
Caller = Annotated[Account, Depends(caller)]
MAX_TOP = 50


def _router(role: str) -> APIRouter:
    return APIRouter(prefix="/api", dependencies=[Security(authorize, scopes=[role])])


public = APIRouter(prefix="/api")
viewer = _router("viewer")
analyst = _router("analyst")
admin = _router("admin")


def create_app(
    workspace: Workspace,
    *,
    max_upload_bytes: int = uploads.DEFAULT_MAX_BYTES,
    scan_workers: int | None = None,
) -> FastAPI:
    """The API and web app over `workspace` (its store, engine and folder); background jobs
    start and stop with it, scanning with `scan_workers` processes (None: one per core)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> Any:
        app.state.jobs = JobRunner(workspace.context, scan_workers)
        yield
        app.state.jobs.close()

    app = FastAPI(
        title="facesift",
        summary="Find and identify faces in photo and video collections: leads with calibrated "
        "evidence for human review, every search and decision audited.",
        version="1",
        lifespan=lifespan,
    )
    app.state.context = workspace.context
    app.state.analysis = threading.Lock()
    app.state.max_upload_bytes = max_upload_bytes
    for router in (public, viewer, analyst, admin):
        app.include_router(router)
    for router in pages.ROUTERS:
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.HERE / "static"), name="static")

    @app.exception_handler(FacesiftError)
    async def refused(request: Request, exc: FacesiftError) -> Response:
        status = getattr(exc, "status", 404 if isinstance(exc, NotFound) else 400)
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": str(exc)}, status_code=status)
        return pages.render(request, "message.html", status, title="Refused", message=str(exc))

    @app.exception_handler(RequestValidationError)
    async def malformed(request: Request, exc: RequestValidationError) -> Response:
        if request.url.path.startswith("/api/"):
            return JSONResponse({"detail": jsonable_encoder(exc.errors())}, status_code=422)
        wrong = "; ".join(
            f"{'.'.join(str(p) for p in e.get('loc', [])[1:])}: {e.get('msg')}"
            for e in exc.errors()
        )
        return pages.render(request, "message.html", 400, title="Not understood", message=wrong)

    @app.exception_handler(SignInNeeded)
    async def sign_in(request: Request, _exc: SignInNeeded) -> Response:
        return RedirectResponse(f"/login?{urlencode({'next': request.url.path})}", 303)

    @app.exception_handler(PageForbidden)
    async def forbidden(request: Request, exc: PageForbidden) -> Response:
        return pages.render(request, "message.html", 403, title="Not allowed", message=str(exc))

    return app


# ----------------------------------------------------------------------------------- public
@public.post("/token")
def token(request: Request, form: Annotated[OAuth2PasswordRequestForm, Depends()]) -> Any:
    """Sign in (OAuth2 password flow): a bearer token that expires after some hours."""
    client = request.client.host if request.client else None
    try:
        issued = accounts.login(
            request.app.state.context, form.username, form.password, client=client
        )
    except accounts.TooManyAttempts as exc:
        raise HTTPException(429, str(exc), headers={"Retry-After": str(exc.retry_after)}) from None
    except accounts.SignInRefused as exc:
        raise HTTPException(401, str(exc), headers={"WWW-Authenticate": "Bearer"}) from None
    return {
        "access_token": issued,
        "token_type": "bearer",
        "expires_in": int(accounts.TOKEN_LIFETIME.total_seconds()),
    }


@public.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


# ----------------------------------------------------------------------------------- viewer
@viewer.get("/me")
def me(account: Caller) -> dict[str, Any]:
    return account.to_dict()


@viewer.delete("/token")
def sign_out(request: Request, ctx: Ctx) -> dict[str, str]:
    """Revoke the token this call was made with."""
    accounts.logout(ctx, request.state.token)
    return {"status": "signed out"}


@viewer.get("/people")
def people(ctx: Ctx) -> list[dict[str, Any]]:
    return [p.to_dict() for p in listings.people(ctx)]


@viewer.get("/people/{name}")
def person(ctx: Ctx, name: str) -> dict[str, Any]:
    found = [p for p in listings.people(ctx) if p.name == name]
    if not found:
        raise HTTPException(404, f"no person named {name!r}")
    return {**found[0].to_dict(), "faces": [f.to_dict() for f in listings.faces(ctx, person=name)]}


@viewer.get("/cases")
def cases(ctx: Ctx) -> list[dict[str, Any]]:
    return [c.to_dict() for c in listings.cases(ctx)]


@viewer.get("/media")
def media(ctx: Ctx, case: str | None = None) -> list[dict[str, Any]]:
    return [m.to_dict() for m in listings.media(ctx, case)]


@viewer.get("/faces")
def faces(ctx: Ctx, person: str | None = None, case: str | None = None) -> list[dict[str, Any]]:
    return [f.to_dict() for f in listings.faces(ctx, person=person, case=case)]


@viewer.get("/faces/{face_id}/image", response_class=Response)
def face_image(ctx: Ctx, face_id: int) -> Response:
    """The face as a JPEG (its kept crop, or cut from its photo)."""
    return Response(evidence.face_image(ctx, face_id), media_type="image/jpeg")


@viewer.get("/media/{sha256}/frame", response_class=Response)
def evidence_frame(
    ctx: Ctx,
    sha256: str,
    seconds: float | None = None,
    index: int | None = None,
    boxes: bool = False,
) -> Response:
    """A stored video's frame as a JPEG (faces outlined with `boxes`); audited as an export."""
    path = _stored_path(ctx, sha256)
    frame = evidence.evidence_frame(ctx, path, seconds=seconds, index=index)
    pixels = frame.image(boxes=boxes)
    evidence.record_export(
        ctx,
        "frame",
        sha256=sha256,
        out=None,
        details={"frame_index": frame.frame.index, "timestamp": frame.frame.timestamp},
    )
    headers = {"X-Frame-Index": str(frame.frame.index)}
    return Response(encode_jpeg(np.asarray(pixels)), media_type="image/jpeg", headers=headers)


@viewer.get("/clusters")
def clusters(
    ctx: Ctx, case: str | None = None, state: Annotated[list[str] | None, Query()] = None
) -> dict[str, Any]:
    return discovery.clusters(ctx, case=case, states=state or ("open",)).to_dict()


@viewer.get("/clusters/operations")
def cluster_operations(ctx: Ctx, case: str | None = None) -> list[dict[str, Any]]:
    return [o.to_dict() for o in discovery.operations(ctx, case=case)]


@viewer.get("/clusters/{cluster_id}")
def cluster(ctx: Ctx, cluster_id: int, case: str | None = None) -> dict[str, Any]:
    return discovery.show(ctx, cluster_id, case=case).to_dict()


@viewer.get("/decisions")
def decisions(ctx: Ctx, case: str | None = None) -> list[dict[str, Any]]:
    return [d.to_dict() for d in review.decisions(ctx, case=case)]


@viewer.get("/jobs")
def jobs(ctx: Ctx) -> list[dict[str, Any]]:
    return [j.to_dict() for j in ctx.store.read(lambda tx: tx.jobs.all())]


@viewer.get("/jobs/{job_id}")
def job(ctx: Ctx, job_id: int) -> dict[str, Any]:
    found = ctx.store.read(lambda tx: tx.jobs.get(job_id))
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    return found.to_dict()


@viewer.get("/audit")
def audit_log(
    ctx: Ctx,
    account: Caller,
    since: str | None = None,
    actor: str | None = None,
    action: str | None = None,
    after: int = 0,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500,
) -> list[dict[str, Any]]:
    """Audit entries in order; admins read all, others only their own."""
    if account.role != "admin":
        if actor not in (None, account.name):
            raise HTTPException(403, "only admins read other people's audit entries")
        actor = account.name
    found = audit.entries(
        ctx, since=since, actor=actor, action=action, after_seq=after, limit=limit
    )
    return [e.to_dict() for e in found]


# ---------------------------------------------------------------------------------- analyst
def _keep(request: Request, file: UploadFile) -> uploads.Upload:
    ctx: Context = request.app.state.context
    return uploads.keep(ctx.folder, file.file, file.filename, request.app.state.max_upload_bytes)


def _keep_each(
    request: Request, files: list[UploadFile]
) -> tuple[list[uploads.Upload], list[uploads.Refusal]]:
    ctx: Context = request.app.state.context
    limit = request.app.state.max_upload_bytes
    return uploads.keep_each(ctx.folder, [(f.file, f.filename) for f in files], limit)


def _outcomes(
    ctx: Context, name: str, files: list[UploadFile], request: Request, meta: dict[str, Any] | None
) -> list[dict[str, Any]]:
    """Enrol the main face of each uploaded photo as `name`; a refused upload is an
    "unreadable" outcome with its reason."""
    kept, refused = _keep_each(request, files)
    uploads.record(ctx, kept, refused)
    done = pages.analysing(request, lambda: enroll.enroll(ctx, name, [k.path for k in kept], meta))
    unread = [EnrollOutcome(r.name or "upload", name, "unreadable", r.reason) for r in refused]
    return [o.to_dict() for o in [*done, *unread]]


def _stored_path(ctx: Context, sha256: str) -> Path:
    found = ctx.store.read(lambda tx: tx.find_media(sha256))
    if found is None:
        raise HTTPException(404, f"no stored media with SHA-256 {sha256}")
    return Path(found.path)


@analyst.post("/media")
def upload(request: Request, ctx: Ctx, files: list[UploadFile] = File(...)) -> list[dict[str, Any]]:
    """Keep photos or videos in the workspace (by content; nothing is analysed yet: start a
    scan job with their SHA-256s). Each file's entry says where it is kept, or why it was
    refused; the whole call is refused only when no file could be kept."""
    kept, refused = _keep_each(request, files)
    uploads.record(ctx, kept, refused)
    return [k.to_dict() for k in kept] + [r.to_dict() for r in refused]


@analyst.post("/cases", status_code=201)
def create_case(ctx: Ctx, name: Annotated[str, Body(embed=True)]) -> dict[str, str]:
    """Open an empty case (scans file media under it, creating it when needed)."""
    listings.create_case(ctx, name)
    return {"name": name}


@analyst.post("/scans", status_code=202)
def start_scan(
    request: Request,
    ctx: Ctx,
    media: Annotated[list[str], Body(description="SHA-256s of uploaded files")],
    case: Annotated[str | None, Body()] = None,
) -> dict[str, Any]:
    """Scan uploaded files (into a case): a background job, followed at GET /api/jobs/{id}."""
    paths = []
    for sha in media:
        path = uploads.find(ctx.folder, sha)
        if path is None:
            raise HTTPException(404, f"no uploaded file with SHA-256 {sha}")
        paths.append(path)
    job_entry = request.app.state.jobs.scan(ctx, paths, {"media": media, "case": case})
    return job_entry.to_dict()


@analyst.post("/search")
def search(
    request: Request,
    ctx: Ctx,
    file: UploadFile = File(...),
    top: Annotated[int, Form(ge=1, le=MAX_TOP)] = 5,
) -> dict[str, Any]:
    """Every face of a photo or video against the gallery: the JSON of `facesift search`."""
    probe = _keep(request, file)  # kept: evidence of what was searched
    uploads.record(ctx, [probe])
    result = pages.analysing(request, lambda: identify.search(ctx, probe.path, top=top, workers=1))
    return result.to_dict()


@analyst.post("/identify")
def identify_case(
    ctx: Ctx,
    case: Annotated[str | None, Body(embed=True)] = None,
    top: Annotated[int, Body(embed=True, ge=1, le=MAX_TOP)] = 5,
) -> dict[str, Any]:
    """Every stored face of a case (or all) against the gallery, with review decisions."""
    return identify.identify(ctx, case=case, top=top).to_dict()


@analyst.get("/timeline")
def timeline_of(
    ctx: Ctx, subject: str, case: str | None = None, leads: bool = False
) -> dict[str, Any]:
    """Where and when a person (by name) or a cluster ("cluster:ID") was seen, by the time of
    each source post or capture (facesift.workflows.timeline); audited like a search."""
    return timeline.timeline(ctx, subject, case=case, leads=leads).to_dict()


@analyst.post("/verify")
def verify(
    request: Request, ctx: Ctx, a: UploadFile = File(...), b: UploadFile = File(...)
) -> dict[str, Any]:
    """Whether the main faces of two photos are the same person (1:1), with the evidence."""
    first, second = _keep(request, a), _keep(request, b)
    uploads.record(ctx, [first, second])
    return pages.analysing(request, lambda: identify.verify(ctx, first.path, second.path)).to_dict()


@analyst.post("/people", status_code=201)
def create_person(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form()],
    files: list[UploadFile] = File(...),
    attributes: Annotated[str | None, Form(description="JSON object")] = None,
) -> list[dict[str, Any]]:
    """Enrol a person from photos (the main face of each); outcomes per photo."""
    return _outcomes(ctx, name, files, request, _attributes(attributes))


@analyst.post("/people/{name}/photos", status_code=201)
def add_photos(
    request: Request, ctx: Ctx, name: str, files: list[UploadFile] = File(...)
) -> list[dict[str, Any]]:
    return _outcomes(ctx, name, files, request, None)


@analyst.patch("/people/{name}")
def person_metadata(ctx: Ctx, name: str, attributes: dict[str, Any]) -> dict[str, str]:
    """Merge metadata (rank, unit, source …) into a person's."""
    enroll.update_person(ctx, name, attributes)
    return {"status": "updated"}


@analyst.post("/clusters/run")
def run_clustering(
    ctx: Ctx,
    case: Annotated[str | None, Body(embed=True)] = None,
    full: Annotated[bool, Body(embed=True)] = False,
) -> dict[str, Any]:
    return discovery.cluster(ctx, case=case, actor=ctx.actor, full=full).to_dict()


@analyst.post("/clusters/{cluster_id}/merge")
def merge_clusters(
    ctx: Ctx,
    cluster_id: int,
    other: Annotated[int, Body(embed=True)],
    case: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    return cluster_review.merge(ctx, cluster_id, other, case=case, actor=ctx.actor).to_dict()


@analyst.post("/clusters/{cluster_id}/split")
def split_cluster(
    ctx: Ctx,
    cluster_id: int,
    faces: Annotated[list[int], Body(embed=True)],
    case: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    return cluster_review.split(ctx, cluster_id, faces, case=case, actor=ctx.actor).to_dict()


@analyst.post("/clusters/{cluster_id}/name")
def name_cluster(
    request: Request,
    ctx: Ctx,
    cluster_id: int,
    person: Annotated[str, Body(embed=True)],
    case: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    return pages.analysing(
        request,
        lambda: cluster_review.name(ctx, cluster_id, person, case=case, actor=ctx.actor),
    ).to_dict()


@analyst.post("/clusters/{cluster_id}/mark")
def mark_cluster(
    ctx: Ctx,
    cluster_id: int,
    state: Annotated[str, Body(embed=True)],
    case: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    return cluster_review.mark(ctx, cluster_id, state, case=case, actor=ctx.actor).to_dict()


@analyst.post("/clusters/operations/{operation_id}/undo")
def undo_cluster_operation(
    ctx: Ctx, operation_id: int, case: Annotated[str | None, Body(embed=True)] = None
) -> dict[str, Any]:
    return cluster_review.undo(ctx, operation_id, case=case, actor=ctx.actor).to_dict()


@analyst.post("/decisions", status_code=201)
def decide(
    ctx: Ctx,
    target: Annotated[str | int, Body(description="a face id (123) or a track (track:45)")],
    person: Annotated[str, Body()],
    verdict: Annotated[str, Body(description="confirm, reject or inconclusive")],
    note: Annotated[str | None, Body()] = None,
    case: Annotated[str | None, Body()] = None,
) -> dict[str, Any]:
    """Decide about a candidate; what the search shows now is frozen with the decision."""
    return review.review(ctx, target, person, verdict, note=note, case=case).to_dict()


@analyst.post("/decisions/{decision_id}/checks", status_code=201)
def check_decision(
    ctx: Ctx,
    decision_id: int,
    outcome: Annotated[str, Body(embed=True, description="verified or disputed")],
    note: Annotated[str | None, Body(embed=True)] = None,
) -> dict[str, Any]:
    """A second reviewer verifies or disputes a decision (not its own reviewer)."""
    return review.check(ctx, decision_id, outcome, note=note).to_dict()


@analyst.get("/cases/{name}/report", response_class=Response)
def case_report(
    ctx: Ctx,
    name: str,
    format: Annotated[str, Query(pattern="^(html|pdf)$")] = "pdf",
    people: Annotated[list[str] | None, Query()] = None,
    include_unreviewed: bool = False,
) -> Response:
    """The case report as PDF or one self-contained HTML file; its SHA-256 is audited."""
    made = report.case_report(ctx, name, people=people, include_unreviewed=include_unreviewed)
    data = case_reports.render(made, format)
    digest = report.record_report(ctx, name, format, data, None)
    kind = "application/pdf" if format == "pdf" else "text/html; charset=utf-8"
    filename = f"facesift-report.{format}"
    headers = {"X-Content-SHA256": digest,
               "Content-Disposition": f'attachment; filename="{filename}"'}  # fmt: skip
    return Response(data, media_type=kind, headers=headers)


# ------------------------------------------------------------------------------------ admin
@admin.get("/users")
def users(ctx: Ctx) -> list[dict[str, Any]]:
    return [a.to_dict() for a in accounts.users(ctx)]


@admin.post("/users", status_code=201)
def add_user(
    ctx: Ctx,
    name: Annotated[str, Body()],
    role: Annotated[str, Body()],
    password: Annotated[str, Body()],
) -> dict[str, Any]:
    return accounts.add_user(ctx, name, role, password).to_dict()


@admin.put("/users/{name}/password")
def set_password(ctx: Ctx, name: str, password: Annotated[str, Body(embed=True)]) -> dict[str, str]:
    accounts.set_password(ctx, name, password)
    return {"status": "updated"}


@admin.put("/users/{name}/role")
def set_role(ctx: Ctx, name: str, role: Annotated[str, Body(embed=True)]) -> dict[str, str]:
    accounts.set_role(ctx, name, role)
    return {"status": "updated"}


@admin.post("/users/{name}/disable")
def disable_user(ctx: Ctx, name: str) -> dict[str, str]:
    accounts.set_disabled(ctx, name, True)
    return {"status": "disabled"}


@admin.post("/users/{name}/enable")
def enable_user(ctx: Ctx, name: str) -> dict[str, str]:
    accounts.set_disabled(ctx, name, False)
    return {"status": "enabled"}


@admin.get("/audit/verify")
def verify_audit(ctx: Ctx) -> dict[str, Any]:
    return audit.verify(ctx).to_dict()


@admin.post("/audit/checkpoint")
def audit_checkpoint(ctx: Ctx) -> dict[str, str]:
    """A signed checkpoint of the log (C2SP signed note) and the key that verifies it."""
    return {"checkpoint": audit.checkpoint(ctx), "verifier_key": audit.verifier_key(ctx)}


def _attributes(text: str | None) -> dict[str, Any] | None:
    if text is None:
        return None
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise HTTPException(422, f"attributes: not JSON ({exc})") from None
    if not isinstance(value, dict):
        raise HTTPException(422, "attributes: a JSON object, please")
    return value
