"""Listings: what the workspace holds (people, cases, files, faces), as typed rows; `limit`
and `offset` page through long ones."""

from __future__ import annotations

from facesift.errors import WorkspaceError
from facesift.store.records import CaseEntry, FaceEntry, MediaEntry, PersonEntry
from facesift.store.store import Tx
from facesift.workflows.context import Context


def people(ctx: Context) -> list[PersonEntry]:
    """The gallery's people by name, with their enrolled face counts and attributes."""
    return ctx.store.read(lambda tx: tx.people())


def portraits(ctx: Context) -> dict[str, int]:
    """Each gallery person's first enrolled face id (the face shown for them)."""
    return ctx.store.read(lambda tx: tx.first_faces())


def cases(ctx: Context) -> list[CaseEntry]:
    """The cases by name, with their numbers of files and faces."""
    return ctx.store.read(lambda tx: tx.cases())


def check_case_name(name: str) -> None:
    """A case name is its address in the web app and the API: no slash, no control
    character, not empty or padded."""
    if not name.strip() or name != name.strip():
        raise WorkspaceError(f"{name!r}: a case name cannot be empty or padded")
    if "/" in name or "\\" in name or any(ord(c) < 32 or ord(c) == 127 for c in name):
        raise WorkspaceError(f"{name!r}: a case name cannot hold a slash or control characters")


def create_case(ctx: Context, name: str) -> None:
    """Open an empty case (files are filed under it by scans); audited."""
    check_case_name(name)

    def write(tx: Tx) -> None:
        if not tx.create_case(name):
            raise WorkspaceError(f"a case named {name!r} exists already")
        tx.audit(ctx.actor, "case.create", objects={"case": name})

    ctx.store.transaction(write)


def media(
    ctx: Context, case: str | None = None, *, limit: int | None = None, offset: int = 0
) -> list[MediaEntry]:
    """Stored files (of one case, or all) by path, with their analysis status."""
    return ctx.store.read(lambda tx: tx.media(case, limit, offset))


def faces(
    ctx: Context,
    *,
    person: str | None = None,
    case: str | None = None,
    limit: int | None = None,
    offset: int = 0,
) -> list[FaceEntry]:
    """Stored faces (of one person, one case, or all) with their provenance."""
    return ctx.store.read(lambda tx: tx.faces(person, case, limit, offset))


def upload_names(ctx: Context, sha256s: list[str]) -> dict[str, list[str]]:
    """The names files were uploaded under (their stored path is their content hash)."""
    return ctx.store.read(lambda tx: tx.upload_names(sha256s))
