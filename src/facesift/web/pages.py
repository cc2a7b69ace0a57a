"""The analysts' web app: server-rendered pages over the same use cases as the API.

Pages sit on one router per role, as the API's routes do; their check (`page_user`) reads the
session cookie, sends anyone not signed in to the sign-in page, and refuses a change without
the session's CSRF token. Templates escape everything they print (Jinja2's autoescape), and
controls a role may not use are not shown; the server refuses them anyway.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Depends, File, Form, Request, Security, UploadFile
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from PIL import Image

from facesift.errors import FacesiftError
from facesift.match.policy import VERDICTS
from facesift.reports import case_report as case_reports
from facesift.reports.annotate import annotated_photo
from facesift.store.records import Account
from facesift.web import uploads
from facesift.web.auth import (
    CSRF_FIELD,
    SESSION_COOKIE,
    acting,
    caller,
    csrf_token,
    page_user,
)
from facesift.workflows import (
    accounts,
    audit,
    cluster_review,
    compare,
    cooccurrence,
    discovery,
    enroll,
    evidence,
    identify,
    listings,
    report,
    review,
)
from facesift.workflows.context import Context

T = TypeVar("T")
HERE = Path(__file__).resolve().parent
templates = Jinja2Templates(directory=HERE / "templates")
Ctx = Annotated[Context, Depends(acting)]
Caller = Annotated[Account, Depends(caller)]
PAGE = 100  # faces or files per page
QUEUE_PAGE = 40  # review items per page
CLUSTER_PAGE = 30  # clusters per page
THUMB_PX = 160


def _pages(role: str) -> APIRouter:
    return APIRouter(dependencies=[Security(page_user, scopes=[role])], include_in_schema=False)


public_pages = APIRouter(include_in_schema=False)
viewer_pages = _pages("viewer")
analyst_pages = _pages("analyst")
admin_pages = _pages("admin")
ROUTERS = (public_pages, viewer_pages, analyst_pages, admin_pages)


def render(request: Request, name: str, status_code: int = 200, **values: Any) -> HTMLResponse:
    """A template with what every page shows: who is signed in, what their role allows."""
    account: Account | None = getattr(request.state, "account", None)
    session = getattr(request.state, "token", None)
    role = account.role if account else None
    return templates.TemplateResponse(
        request,
        name,
        {
            "account": account,
            "csrf": csrf_token(session) if session else "",
            "csrf_field": CSRF_FIELD,
            "can_change": role is not None and accounts.role_allows(role, "analyst"),
            "is_admin": role == "admin",
            **values,
        },
        status_code=status_code,
    )


def _back(request: Request, fallback: str) -> RedirectResponse:
    """Back to the page a form came from (only paths of this site)."""
    target = request.query_params.get("back") or fallback
    return RedirectResponse(target if _local(target) else fallback, status_code=303)


def _local(target: str) -> bool:
    """A path of this site: not another site's address (//host, /\\host, scheme:…)."""
    return target.startswith("/") and not target.startswith(("//", "/\\")) and "\\" not in target


def analysing(request: Request, work: Callable[[], T]) -> T:
    """Run `work`, which uses the server's shared engine, while no other request does (pages
    and API alike)."""
    with request.app.state.analysis:
        return work()


def _data_uri(image: Image.Image, fmt: str = "JPEG") -> str:
    out = io.BytesIO()
    image.convert("RGB").save(out, fmt, quality=90)
    kind = "jpeg" if fmt == "JPEG" else fmt.lower()
    return f"data:image/{kind};base64,{base64.b64encode(out.getvalue()).decode()}"


# ----------------------------------------------------------------------------- signing in
@public_pages.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str = "/cases") -> HTMLResponse:
    return render(request, "login.html", next=next, error=None)


@public_pages.post("/login", response_model=None)
def login(
    request: Request,
    username: Annotated[str, Form()],
    password: Annotated[str, Form()],
    next: Annotated[str, Form()] = "/cases",
) -> Response:
    client = request.client.host if request.client else None
    try:
        session = accounts.login(request.app.state.context, username, password, client=client)
    except accounts.TooManyAttempts as exc:
        return render(request, "login.html", 429, next=next, error=str(exc))
    except accounts.SignInRefused as exc:
        return render(request, "login.html", 401, next=next, error=str(exc))
    target = next if _local(next) else "/cases"
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        session,
        max_age=int(accounts.TOKEN_LIFETIME.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


@viewer_pages.post("/logout")
def logout(request: Request, ctx: Ctx) -> RedirectResponse:
    accounts.logout(ctx, request.state.token)
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@viewer_pages.get("/")
def home() -> RedirectResponse:
    return RedirectResponse("/cases", status_code=303)


# --------------------------------------------------------------------------------- images
@viewer_pages.get("/img/faces/{face_id}.jpg")
def face_thumbnail(ctx: Ctx, face_id: int) -> Response:
    thumbnail = evidence.face_thumbnail(ctx, face_id, THUMB_PX)
    headers = {"Cache-Control": "private, max-age=86400"}
    return Response(thumbnail, media_type="image/jpeg", headers=headers)


@viewer_pages.get("/img/faces/{face_id}/in-context.jpg")
def face_in_context(ctx: Ctx, face_id: int, size: int = 1024) -> Response:
    """The photo or video frame a face is in, with the face outlined."""
    return Response(evidence.face_in_context(ctx, face_id, size), media_type="image/jpeg")


# -------------------------------------------------------------------------------- gallery
@viewer_pages.get("/people", response_class=HTMLResponse)
def people_page(request: Request, ctx: Ctx) -> HTMLResponse:
    people = listings.people(ctx)
    first = listings.portraits(ctx)
    return render(request, "people.html", people=people, first=first)


@viewer_pages.get("/people/{name}", response_class=HTMLResponse)
def person_page(request: Request, ctx: Ctx, name: str) -> HTMLResponse:
    found = [p for p in listings.people(ctx) if p.name == name]
    if not found:
        return render(request, "message.html", 404, title="Not found", message=f"No person {name}")
    faces = listings.faces(ctx, person=name)
    names = listings.upload_names(ctx, [f.sha256 for f in faces])
    return render(request, "person.html", person=found[0], faces=faces, names=names)


def _keep_each(
    request: Request, ctx: Context, files: list[UploadFile]
) -> tuple[list[uploads.Upload], list[uploads.Refusal]]:
    """Keep every uploaded file that can be kept; the others with why (none kept: refused)."""
    limit = request.app.state.max_upload_bytes
    chosen = [(f.file, f.filename) for f in files if f.filename]
    return uploads.keep_each(ctx.folder, chosen, limit)


@analyst_pages.post("/people")
def add_person(
    request: Request,
    ctx: Ctx,
    name: Annotated[str, Form()],
    photos: Annotated[list[UploadFile], File()],
    attributes: Annotated[str, Form()] = "",
) -> Response:
    """A new person from photos; `attributes` as "key: value" lines."""
    meta = {}
    for line in attributes.splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            meta[key.strip()] = value.strip()
    kept, refused = _keep_each(request, ctx, photos)
    uploads.record(ctx, kept, refused)
    outcomes = analysing(request, lambda: enroll.enroll(ctx, name, [k.path for k in kept], meta))
    if not any(o.status in ("enrolled", "already_enrolled") for o in outcomes):
        reasons = [f"{o.status}: {o.message}" for o in outcomes]
        reasons += [f"{r.name}: {r.reason}" for r in refused]
        return render(
            request, "message.html", 400, title="Not enrolled", message="; ".join(reasons)
        )
    return RedirectResponse(f"/people/{quote(name)}", status_code=303)


@analyst_pages.post("/people/{name}/photos")
def add_photos(
    request: Request, ctx: Ctx, name: str, photos: Annotated[list[UploadFile], File()]
) -> Response:
    kept, refused = _keep_each(request, ctx, photos)
    uploads.record(ctx, kept, refused)
    analysing(request, lambda: enroll.enroll(ctx, name, [k.path for k in kept]))
    return RedirectResponse(f"/people/{quote(name)}", status_code=303)


# ---------------------------------------------------------------------------------- cases
@viewer_pages.get("/cases", response_class=HTMLResponse)
def cases_page(request: Request, ctx: Ctx) -> HTMLResponse:
    return render(request, "cases.html", cases=listings.cases(ctx))


@analyst_pages.post("/cases")
def create_case(ctx: Ctx, name: Annotated[str, Form()]) -> RedirectResponse:
    listings.create_case(ctx, name)
    return RedirectResponse(f"/cases/{quote(name)}", status_code=303)


@viewer_pages.get("/cases/{name}", response_class=HTMLResponse)
def case_page(request: Request, ctx: Ctx, name: str, page: int = 0) -> HTMLResponse:
    """A case: its files and faces (a page at a time), its reviewed people, its jobs."""
    found = [c for c in listings.cases(ctx) if c.name == name]
    if not found:
        return render(request, "message.html", 404, title="Not found", message=f"No case {name}")
    media = listings.media(ctx, name, limit=PAGE, offset=page * PAGE)
    faces = listings.faces(ctx, case=name, limit=PAGE, offset=page * PAGE)
    decided = review.decisions(ctx, case=name)
    confirmed: dict[str, list[Any]] = {}
    for entry in review.standing(decided):
        if entry.verdict == "confirm" and entry.status != "disputed":
            confirmed.setdefault(entry.person, []).append(entry)
    jobs = [j for j in ctx.store.read(lambda tx: tx.jobs.all(20)) if j.params.get("case") == name]
    names = listings.upload_names(ctx, [m.sha256 for m in media])
    return render(
        request,
        "case.html",
        case=found[0],
        media=media,
        faces=faces,
        page=page,
        pages=max(1, -(-max(found[0].faces, found[0].media) // PAGE)),
        confirmed=confirmed,
        decisions=decided,
        jobs=jobs,
        names=names,
    )


@analyst_pages.post("/cases/{name}/upload", response_model=None)
def upload_to_case(
    request: Request, ctx: Ctx, name: str, files: Annotated[list[UploadFile], File()]
) -> Response:
    """Keep uploaded files and start a scan job into the case (JSON for the page's script)."""
    wants_json = request.headers.get("accept", "").startswith("application/json")
    try:
        kept, refused = _keep_each(request, ctx, files)
    except uploads.UploadRefused as exc:
        if wants_json:
            return JSONResponse({"detail": str(exc)}, status_code=exc.status)
        raise
    uploads.record(ctx, kept, refused)
    params = {"media": [k.sha256 for k in kept], "case": name}
    job = request.app.state.jobs.scan(ctx, [k.path for k in kept], params)
    if wants_json:
        answer = {"job": job.id, "files": [k.to_dict() for k in kept]}
        return JSONResponse(answer | {"refused": [r.to_dict() for r in refused]})
    return RedirectResponse(f"/cases/{quote(name)}", status_code=303)


@viewer_pages.get("/jobs/{job_id}.json")
def job_status(ctx: Ctx, job_id: int) -> JSONResponse:
    found = ctx.store.read(lambda tx: tx.jobs.get(job_id))
    if found is None:
        return JSONResponse({"detail": "no such job"}, status_code=404)
    return JSONResponse(found.to_dict())


# --------------------------------------------------------------------------------- search
@analyst_pages.get("/search", response_class=HTMLResponse)
def search_page(request: Request) -> HTMLResponse:
    return render(request, "search.html", result=None)


@analyst_pages.post("/search", response_class=HTMLResponse)
def search(
    request: Request,
    ctx: Ctx,
    probe: Annotated[UploadFile, File()],
    top: Annotated[int, Form()] = 5,
) -> HTMLResponse:
    """A photo or short video against the gallery: numbered boxes, ranked candidates."""
    limit = request.app.state.max_upload_bytes
    kept = uploads.keep(ctx.folder, probe.file, probe.filename, limit)
    uploads.record(ctx, [kept])
    result = analysing(
        request, lambda: identify.search(ctx, kept.path, top=min(top, 20), workers=1)
    )
    picture = None if result.tracks is not None else _data_uri(annotated_photo(result, kept.path))
    return render(request, "search.html", result=result, picture=picture, upload=kept)


# --------------------------------------------------------------------------------- review
@viewer_pages.get("/cases/{name}/review", response_class=HTMLResponse)
def review_queue(
    request: Request, ctx: Ctx, name: str, band: str = "possible", page: int = 0
) -> HTMLResponse:
    """The case's candidates in `band` or stronger, best first, with their decisions."""
    items, made = review.queue(ctx, name, band)
    shown = items[page * QUEUE_PAGE : (page + 1) * QUEUE_PAGE]
    return render(
        request,
        "review.html",
        case=name,
        items=shown,
        total=len(items),
        band=band,
        bands=list(VERDICTS),
        page=page,
        pages=max(1, -(-len(items) // QUEUE_PAGE)),
        decision=made,
    )


@analyst_pages.post("/decisions")
def decide(
    request: Request,
    ctx: Ctx,
    target: Annotated[str, Form()],
    person: Annotated[str, Form()],
    verdict: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
    case: Annotated[str | None, Form()] = None,
) -> RedirectResponse:
    review.review(ctx, target, person, verdict, note=note or None, case=case or None)
    return _back(request, "/cases")


@analyst_pages.post("/decisions/{decision_id}/check")
def check(
    request: Request,
    ctx: Ctx,
    decision_id: int,
    outcome: Annotated[str, Form()],
    note: Annotated[str, Form()] = "",
) -> RedirectResponse:
    review.check(ctx, decision_id, outcome, note=note or None)
    return _back(request, "/cases")


# ----------------------------------------------------------------------------- comparison
@viewer_pages.get("/compare", response_class=HTMLResponse)
def compare_page(
    request: Request,
    ctx: Ctx,
    face: int,
    person: str | None = None,
    reference: int | None = None,
    case: str | None = None,
    target: str | None = None,
    back: str | None = None,
) -> HTMLResponse:
    """Probe and reference aligned side by side, overlaid, with their originals and
    provenance; with a gallery `person`, the decision on `target` (the face, or its track)
    can be made here, then `back` leads to where the examiner came from."""
    made = analysing(
        request,
        lambda: compare.compare(ctx, face, reference_id=reference, person=person, case=case),
    )
    chips = {
        "probe": _data_uri(Image.fromarray(made.probe.chip), "PNG"),
        "reference": _data_uri(Image.fromarray(made.reference.chip), "PNG"),
    }
    return render(
        request,
        "compare.html",
        made=made,
        chips=chips,
        size=compare.COMPARISON_SIZE,
        verdict=VERDICTS.get(made.band, ""),
        person=person,
        case=case,
        target=target or str(face),
        back=back if back and _local(back) else None,
        here=str(request.url.path) + ("?" + request.url.query if request.url.query else ""),
    )


# -------------------------------------------------------------------------- unknown people
@viewer_pages.get("/cases/{name}/clusters", response_class=HTMLResponse)
def clusters_page(
    request: Request, ctx: Ctx, name: str, state: str = "open", page: int = 0
) -> HTMLResponse:
    listing = discovery.clusters(ctx, case=name, states=(state,))
    views = listing.clusters  # largest first
    suggestions = discovery.similar_clusters(ctx, views)
    shown = views[page * CLUSTER_PAGE : (page + 1) * CLUSTER_PAGE]
    return render(
        request,
        "clusters.html",
        case=name,
        listing=listing,
        views=shown,
        total=len(views),
        state=state,
        suggestions=suggestions,
        page=page,
        pages=max(1, -(-len(views) // CLUSTER_PAGE)),
    )


@analyst_pages.post("/cases/{name}/clusters/run")
def run_clusters(request: Request, ctx: Ctx, name: str) -> RedirectResponse:
    analysing(request, lambda: discovery.cluster(ctx, case=name, actor=ctx.actor))
    return RedirectResponse(f"/cases/{quote(name)}/clusters", status_code=303)


@analyst_pages.post("/cases/{name}/clusters/{cluster_id}")
async def change_cluster(request: Request, ctx: Ctx, name: str, cluster_id: int) -> Response:
    """Merge, split, name or mark a cluster (the form's `action` says which)."""
    form = await request.form()
    action = str(form.get("action", ""))
    who = ctx.actor

    def change() -> Any:
        if action == "merge":
            return cluster_review.merge(
                ctx, cluster_id, int(str(form["other"])), case=name, actor=who
            )
        if action == "split":
            faces = [int(str(v)) for v in form.getlist("face")]
            return cluster_review.split(ctx, cluster_id, faces, case=name, actor=who)
        if action == "name":
            person = str(form["person"])
            with request.app.state.analysis:
                return cluster_review.name(ctx, cluster_id, person, case=name, actor=who)
        if action in ("ignored", "not_a_face", "open"):
            return cluster_review.mark(ctx, cluster_id, action, case=name, actor=who)
        raise FacesiftError(f"unknown cluster action {action!r}")

    await run_in_threadpool(change)
    return RedirectResponse(f"/cases/{quote(name)}/clusters", status_code=303)


@analyst_pages.get("/cases/{name}/report.{fmt}")
def case_report(ctx: Ctx, name: str, fmt: str, unreviewed: bool = False) -> Response:
    """The case's report to download (PDF or HTML); its SHA-256 is audited."""
    if fmt not in case_reports.FORMATS:
        return Response(status_code=404)
    made = report.case_report(ctx, name, include_unreviewed=unreviewed)
    data = case_reports.render(made, fmt)
    report.record_report(ctx, name, fmt, data, None)
    kind = "application/pdf" if fmt == "pdf" else "text/html; charset=utf-8"
    disposition = f'attachment; filename="facesift-report.{fmt}"'
    return Response(data, media_type=kind, headers={"Content-Disposition": disposition})


# ---------------------------------------------------------------------------------- video
@viewer_pages.get("/cases/{name}/video/{sha256}", response_class=HTMLResponse)
def video_page(request: Request, ctx: Ctx, name: str, sha256: str, t: float = 0.0) -> HTMLResponse:
    """A scanned video of a case: its tracks (time span, best shots, candidates), and the
    evidence frame at `t` seconds with its faces outlined."""
    result = identify.identify(ctx, case=name, top=3)
    tracks = [tr for tr in result.tracks if tr.source.sha256 == sha256]
    found = [m for m in listings.media(ctx, name) if m.sha256 == sha256]
    if not found:
        return render(request, "message.html", 404, title="Not found", message="No such video")
    frame = analysing(request, lambda: evidence.evidence_frame(ctx, found[0].path, seconds=t))
    return render(
        request,
        "video.html",
        case=name,
        media=found[0],
        tracks=tracks,
        frame=frame,
        picture=_data_uri(frame.image(boxes=True)),
        t=t,
    )


@viewer_pages.get("/cases/{name}/together", response_class=HTMLResponse)
def together_page(request: Request, ctx: Ctx, name: str, subject: str) -> HTMLResponse:
    """Who appears with a person or a cluster ("cluster:ID") in the case."""
    found = cooccurrence.cooccur(ctx, subject, case=name)
    videos = {m.sha256 for m in listings.media(ctx, name) if m.kind == "video"}
    return render(request, "together.html", case=name, found=found, videos=videos)


# ---------------------------------------------------------------------------------- audit
@admin_pages.get("/audit", response_class=HTMLResponse)
def audit_page(
    request: Request,
    ctx: Ctx,
    actor: str | None = None,
    action: str | None = None,
    since: str | None = None,
    before: int | None = None,
    verify: bool = False,
) -> HTMLResponse:
    """The audit log, newest first, a page at a time; the chain's verification on demand."""
    entries = audit.entries(
        ctx, actor=actor or None, action=action or None, since=since or None,
        limit=PAGE, newest_first=True, before_seq=before,
    )  # fmt: skip
    checked = audit.verify(ctx) if verify else None
    filters = {"actor": actor or "", "action": action or "", "since": since or ""}
    more = None
    if len(entries) == PAGE:
        more = urlencode({k: v for k, v in filters.items() if v} | {"before": entries[-1].seq})
    broken = {p.seq for p in checked.problems} if checked else set()
    return render(
        request,
        "audit.html",
        entries=entries,
        checked=checked,
        broken=broken,
        filters=filters,
        more=more,
    )
