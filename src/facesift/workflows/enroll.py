"""Enrolment: building and correcting the gallery of known people.

A person is created with their first enrolled face, so a failed enrolment leaves no empty
person. Corrections (a person removed, a face unenrolled) keep the faces stored as evidence
and are recorded with who made them.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from facesift.errors import MediaError, NotFound, WorkspaceError
from facesift.execution.analysis import AnalyzedImage, analyzed_image
from facesift.media.files import iter_media_files, sha256_file
from facesift.media.image import load_image
from facesift.store.records import GalleryChangeEntry, StoredFace, StoredMedia
from facesift.store.store import Tx
from facesift.vision.face import choose_primary
from facesift.workflows.context import Context
from facesift.workflows.results import EnrollOutcome


def enroll(
    ctx: Context,
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
    return [enroll_file(ctx, person, Path(f), attributes) for f in iter_media_files(files)]


def enroll_folder(
    ctx: Context, root: str | Path, metadata: dict[str, dict[str, Any]] | None = None
) -> list[EnrollOutcome]:
    """Enrol a folder of per-person subfolders (`Name/*.jpg`); `metadata` is keyed by name."""
    root = Path(root)
    if not root.is_dir():
        raise WorkspaceError(f"{root}: not a folder")
    outcomes: list[EnrollOutcome] = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        attributes = (metadata or {}).get(folder.name)
        outcomes.extend(enroll(ctx, folder.name, [folder], attributes))
    return outcomes


def enroll_file(
    ctx: Context, person: str, path: Path, attributes: dict[str, Any] | None
) -> EnrollOutcome:
    """Enrol one photo's main face. Analysis runs before the transaction, which is retried
    when another writer stored the same file first."""
    try:
        sha = sha256_file(path)
        stored = ctx.store.read(lambda tx: tx.media_status(sha)) == "ok"
        analysis, pixels = None, None
        if not stored:
            decoded = load_image(path)
            pixels = decoded.pixels
            analysis = analyzed_image(decoded, ctx.engine.analyze_pixels(pixels, thorough=True))
        return ctx.store.transaction(
            lambda tx: _enroll_stored(ctx, tx, person, attributes, path, sha, analysis, pixels)
        )
    except MediaError as exc:
        return EnrollOutcome(str(path), person, "unreadable", exc.reason)
    except OSError as exc:
        return EnrollOutcome(str(path), person, "unreadable", exc.strerror or str(exc))


def _enroll_stored(
    ctx: Context,
    tx: Tx,
    person: str,
    attributes: dict[str, Any] | None,
    path: Path,
    sha: str,
    analysis: AnalyzedImage | None,
    pixels: np.ndarray | None,
) -> EnrollOutcome:
    media = tx.find_media(sha)
    if media is None or media.status != "ok":
        if analysis is None:  # the record seen before is gone: analyse now
            decoded = load_image(path)
            pixels = decoded.pixels
            analysis = analyzed_image(decoded, ctx.engine.analyze_pixels(pixels, thorough=True))
        stored = store_image(ctx, tx, path, sha, analysis)
        if stored is not None:
            audit_stored_image(ctx, tx, stored, None)
        media = stored or tx.find_media(sha)
        assert media is not None
    shape = (media.height or 0, media.width or 0)
    chosen, why = choose_primary([f.face for f in media.faces], shape, "largest")
    if chosen is None:
        status = "no_face" if not media.faces else "ambiguous"
        return EnrollOutcome(str(path), person, status, why)
    face = next(f for f in media.faces if f.face is chosen)
    if face.person == person:
        if attributes:
            tx.update_person(person, attributes)
            tx.audit(ctx.actor, "gallery.update_person", objects={"person": person},
                     details={"attributes": attributes})  # fmt: skip
        if not face.has_low_res_template:  # enrolled before templates existed
            _add_low_res_template(ctx, tx, face, path, pixels)
            tx.mark_gallery_changed()
        return EnrollOutcome(str(path), person, "already_enrolled", "already enrolled", face.id)
    if face.person_id is not None:
        other = face.person or face.person_id
        return EnrollOutcome(
            str(path), person, "conflict", f"this face is enrolled as {other}", face.id
        )
    if face.model.sha256 != ctx.engine.model_sha256:
        reason = f"stored face was made by another model ({face.model.name})"
        return EnrollOutcome(str(path), person, "conflict", reason, face.id)
    if not face.has_low_res_template:
        _add_low_res_template(ctx, tx, face, path, pixels)
    tx.enroll_face(face.id, person, attributes)
    tx.audit(
        ctx.actor,
        "gallery.enroll",
        objects={"face": face.id, "person": person},
        inputs={"sha256": sha, "path": str(path)},
        details={"attributes": attributes or {}, "model": face.model.name},
    )
    return EnrollOutcome(str(path), person, "enrolled", why, face.id)


def store_image(
    ctx: Context, tx: Tx, path: Path, sha: str, analysis: AnalyzedImage
) -> StoredMedia | None:
    """Store an analysed photo and its faces; None when another writer completed it first."""
    return tx.save_image(
        path,
        sha,
        format=analysis.format,
        width=analysis.width,
        height=analysis.height,
        exif=analysis.exif,
        analysis=ctx.engine.describe(),
        faces=analysis.faces,
        model=ctx.model,
    )


def audit_stored_image(ctx: Context, tx: Tx, media: StoredMedia, case: str | None) -> None:
    """The audit entry of a photo's analysis, in the transaction that stored it."""
    tx.audit(
        ctx.actor,
        "media.store",
        objects={"media": media.id, "faces": [f.id for f in media.faces]},
        inputs={"sha256": media.sha256, "path": media.path},
        details={
            "kind": "image",
            "case": case,
            "model": ctx.model.name,
            "model_sha256": ctx.model.sha256,
        },
    )


def _add_low_res_template(
    ctx: Context, tx: Tx, face: StoredFace, path: Path, pixels: np.ndarray | None
) -> None:
    """Give an enrolled face its low-resolution template (facesift.vision.lowres)."""
    pixels = load_image(path).pixels if pixels is None else pixels
    tx.set_low_res_template(face.id, ctx.engine.low_resolution_template(pixels, face.face))


def remove_person(ctx: Context, name: str, *, actor: str, note: str | None = None) -> list[int]:
    """Take `name` out of the gallery (their faces stay stored, unenrolled); recorded with
    `actor`. The ids of the faces unenrolled."""

    def remove(tx: Tx) -> list[int] | None:
        faces = tx.remove_person(name, actor, note)
        if faces is not None:
            tx.audit(actor, "gallery.remove_person", objects={"person": name, "faces": faces},
                     details={"note": note})  # fmt: skip
        return faces

    removed = ctx.store.transaction(remove)
    if removed is None:
        raise NotFound(f"no person named {name!r} in the gallery")
    return removed


def unenroll_face(ctx: Context, face_id: int, *, actor: str, note: str | None = None) -> str:
    """Unenrol one face (a mistaken enrolment); the face stays stored. Recorded with `actor`;
    a person left without faces is removed. The person's name."""

    def unenroll(tx: Tx) -> str | None:
        person = tx.unenroll_face(face_id, actor, note)
        if person is not None:
            tx.audit(actor, "gallery.unenroll_face", objects={"face": face_id, "person": person},
                     details={"note": note})  # fmt: skip
        return person

    person = ctx.store.transaction(unenroll)
    if person is None:
        raise WorkspaceError(f"face {face_id} is not an enrolled face")
    return person


def update_person(ctx: Context, name: str, attributes: dict[str, Any]) -> None:
    """Merge `attributes` into a gallery person's metadata (rank, unit, source …)."""

    def write(tx: Tx) -> None:
        if not tx.people_named(name):
            raise NotFound(f"no person named {name!r} in the gallery")
        tx.update_person(name, attributes)
        tx.audit(ctx.actor, "gallery.update_person", objects={"person": name},
                 details={"attributes": attributes})  # fmt: skip

    ctx.store.transaction(write)
    ctx.identified.clear()  # candidates carry their person's metadata


def gallery_changes(ctx: Context) -> list[GalleryChangeEntry]:
    """Every correction of the gallery, oldest first: when, who, what."""
    return ctx.store.read(lambda tx: tx.gallery_changes())
