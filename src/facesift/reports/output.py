"""Writing what a user asked for without harming evidence, and text that cannot mislead.

An output file never replaces an existing file unless the user says so (`force`), and never
one of the command's input files at all: a photo under investigation must keep its SHA-256.
The file appears whole or not at all (written beside, then moved into place).

CSV cells that a spreadsheet would run as a formula (starting with = + - @, tab or CR) get a
leading apostrophe (OWASP's advice for CSV injection); text printed to a terminal has its
control characters escaped, so a crafted file name cannot rewrite the screen.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from facesift.errors import FacesiftError

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def check_output(path: Path, *, inputs: Iterable[Path] = (), force: bool = False) -> None:
    """Fail, before any work is done, when `path` could not or should not be written."""
    for source in inputs:  # the same file under any name, through links too
        if path.exists() and Path(source).exists() and os.path.samefile(path, source):
            raise FacesiftError(f"{path}: is an input file; evidence is never overwritten")
    if path.is_dir():
        raise FacesiftError(f"{path}: is a folder, not a file name")
    if not path.parent.is_dir():
        raise FacesiftError(f"{path}: the folder {path.parent} does not exist")
    if path.exists() and not force:
        raise FacesiftError(f"{path}: already exists (use --force to replace it)")


def write_output(
    path: Path,
    write: Callable[[Path], None],
    *,
    inputs: Iterable[Path] = (),
    force: bool = False,
) -> None:
    """Write a new file at `path` through `write(temporary_path)`, whole or not at all."""
    inputs = list(inputs)
    check_output(path, inputs=inputs, force=force)
    handle, temporary = tempfile.mkstemp(
        prefix=f".{path.stem}.", suffix=path.suffix, dir=path.parent
    )
    os.close(handle)
    try:
        write(Path(temporary))
        if force:
            check_output(path, inputs=inputs, force=True)
            os.replace(temporary, path)
        else:
            try:
                os.link(temporary, path)  # fails if the name was taken meanwhile
            except FileExistsError:
                raise FacesiftError(f"{path}: already exists (use --force to replace it)") from None
    finally:
        Path(temporary).unlink(missing_ok=True)


def image_format(path: Path) -> str:
    """Pillow's format for an output file name (the file is first written under another)."""
    from PIL import Image

    Image.init()
    known = Image.registered_extensions().get(path.suffix.lower())
    if known is None:
        raise FacesiftError(f"{path}: unknown image type {path.suffix!r}; use .png or .jpg")
    return known


def save_image(
    picture: Any, path: Path, *, inputs: Iterable[Path] = (), force: bool = False
) -> None:
    """Save a PIL image as a new file at `path` (see write_output), in the format its name says."""
    fmt = image_format(path)
    write_output(path, lambda temporary: picture.save(temporary, format=fmt), inputs=inputs,
                 force=force)  # fmt: skip


def csv_cell(value: Any) -> Any:
    """A value safe to put in a CSV cell that a spreadsheet opens."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def terminal_text(text: str) -> str:
    """`text` with control characters (escape sequences, carriage returns …) made visible."""
    return "".join(
        ch if ch.isprintable() or ch == " " else ch.encode("unicode_escape").decode("ascii")
        for ch in text
    )
