"""Listings: what the workspace holds (people, files, faces), as typed rows."""

from __future__ import annotations

from facesift.store.records import FaceEntry, MediaEntry, PersonEntry
from facesift.workflows.context import Context


def people(ctx: Context) -> list[PersonEntry]:
    """The gallery's people by name, with their enrolled face counts and attributes."""
    return ctx.store.read(lambda tx: tx.people())


def media(ctx: Context, case: str | None = None) -> list[MediaEntry]:
    """Stored files (of one case, or all) by path, with their analysis status."""
    return ctx.store.read(lambda tx: tx.media(case))


def faces(ctx: Context, *, person: str | None = None, case: str | None = None) -> list[FaceEntry]:
    """Stored faces (of one person, one case, or all) with their provenance."""
    return ctx.store.read(lambda tx: tx.faces(person, case))
