"""Who is calling, and may they: the API's one access check.

Every API router but the public one carries `Security(authorize, scopes=[ROLE])`: a bearer token
(OAuth2 password flow, `POST /api/token`) of an enabled account whose role reaches ROLE
(viewer < analyst < admin). The role each route needs is therefore in the OpenAPI document
(the route's `security` scopes), where tests and clients read it. The endpoint gets its own
`Context` with the account as the acting user, so that everything it changes or searches is
audited under that name. The web app's pages do the same with a session cookie (the same
kind of token) and check a CSRF token on every change (`page_user`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

from fastapi import Depends, HTTPException, Request, status
from fastapi.concurrency import run_in_threadpool
from fastapi.security import OAuth2PasswordBearer, SecurityScopes

from facesift.store.records import Account
from facesift.workflows import accounts
from facesift.workflows.context import Context

ROLE_SCOPES = {
    "viewer": "read people, media, faces, clusters, decisions, jobs",
    "analyst": "also upload, enrol, scan, search, identify, verify, cluster, review",
    "admin": "also manage accounts and read the whole audit log",
}

bearer = OAuth2PasswordBearer(tokenUrl="/api/token", scopes=ROLE_SCOPES, auto_error=False)


def _unauthorized(detail: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, detail, headers={"WWW-Authenticate": "Bearer"}
    )


def authorize(
    request: Request, scopes: SecurityScopes, token: str | None = Depends(bearer)
) -> Account:
    """The calling account, if its token is live and its role reaches the route's scope;
    401 (no or dead token) or 403 (role too low) otherwise."""
    if token is None:
        raise _unauthorized("sign in first: POST /api/token, then send 'Authorization: Bearer …'")
    base: Context = request.app.state.context
    account = accounts.authenticate(base, token)
    if account is None:
        raise _unauthorized("the token is unknown, expired or revoked, or its account disabled")
    for needed in scopes.scopes:
        if not accounts.role_allows(account.role, needed):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"this needs the {needed} role ({account.name} is "
                f"{account.role})"
            )  # fmt: skip
    request.state.account = account
    request.state.token = token
    return account


def acting(request: Request) -> Context:
    """The workspace's context with the signed-in account as the acting user."""
    account: Account = request.state.account
    return dataclasses.replace(request.app.state.context, actor=account.name)


def caller(request: Request) -> Account:
    account: Account = request.state.account
    return account


# ------------------------------------------------------------------------- the web app's pages
SESSION_COOKIE = "facesift_session"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"


class SignInNeeded(Exception):
    """A page asked for without a live session: the app answers with the sign-in page."""


class PageForbidden(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)


def csrf_token(session: str) -> str:
    """The token every form of a session carries: derived from the session's own token, which
    another site can neither read (HttpOnly, SameSite) nor guess."""
    return hashlib.sha256(f"facesift-csrf:{session}".encode()).hexdigest()


async def page_user(request: Request, scopes: SecurityScopes) -> Account:
    """The signed-in account of a page request (its session cookie), if its role reaches the
    page's scope; a change (any method but GET) must also carry the session's CSRF token."""
    session = request.cookies.get(SESSION_COOKIE)
    base: Context = request.app.state.context
    account = None if not session else await run_in_threadpool(accounts.authenticate, base, session)
    if account is None or session is None:
        raise SignInNeeded
    request.state.account = account  # a refusal page still shows who is signed in
    request.state.token = session
    for needed in scopes.scopes:
        if not accounts.role_allows(account.role, needed):
            raise PageForbidden(f"this needs the {needed} role ({account.name} is {account.role})")
    if request.method not in ("GET", "HEAD"):
        sent = request.headers.get(CSRF_HEADER)
        if sent is None:
            form = await request.form()
            value = form.get(CSRF_FIELD)
            sent = value if isinstance(value, str) else None
        if sent is None or not hmac.compare_digest(sent, csrf_token(session)):
            raise PageForbidden("the form's security token is missing or wrong; reload the page")
    return account
