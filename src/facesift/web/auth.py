"""Who is calling, and may they: the API's one access check.

Every router but the public one carries `Security(authorize, scopes=[ROLE])`: a bearer token
(OAuth2 password flow, `POST /api/token`) of an enabled account whose role reaches ROLE
(viewer < analyst < admin). The role each route needs is therefore in the OpenAPI document
(the route's `security` scopes), where tests and clients read it. The endpoint gets its own
`Context` with the account as the acting user, so that everything it changes or searches is
audited under that name.
"""

from __future__ import annotations

import dataclasses

from fastapi import Depends, HTTPException, Request, status
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
