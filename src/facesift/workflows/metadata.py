"""People's metadata for enrolment: a CSV of names and any columns a case needs (role, source …).

The file comes from the user, often exported from a spreadsheet: each problem is reported
with the file and, where it lies in the text, the line, so that it can be fixed there.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from facesift.errors import FacesiftError

NAME_COLUMNS = ("name", "person")


def read_people_metadata(path: Path) -> dict[str, dict[str, Any]]:
    """name → attributes, from a CSV with a `name` (or `person`) column; every other column
    becomes an attribute, empty cells are left out. A later row for a name replaces an earlier.

    Raises FacesiftError naming the file (and the line, for what is wrong inside it).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise FacesiftError(f"{path}: no such metadata file") from None
    except IsADirectoryError:
        raise FacesiftError(f"{path}: is a folder; --meta takes a CSV file") from None
    except OSError as exc:
        raise FacesiftError(f"{path}: cannot read the metadata CSV: {exc}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        byte = exc.start + (len(data) - len(data.removeprefix(b"\xef\xbb\xbf")))
        line = data.count(b"\n", 0, byte) + 1
        raise FacesiftError(
            f"{path}: not UTF-8 text at line {line} (byte {byte}); save the CSV as UTF-8"
        ) from None
    lines = _CountedLines(text)
    try:
        rows = list(csv.DictReader(lines))
    except csv.Error as exc:
        raise FacesiftError(
            f"{path}: cannot read the metadata CSV at line {lines.count}: {exc}"
        ) from None
    if rows and not (set(NAME_COLUMNS) & set(rows[0])):
        raise FacesiftError(f"{path}: the metadata CSV needs a 'name' column")
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        name = (row.pop("name", None) or row.pop("person", None) or "").strip()
        if name:
            out[name] = {k: v for k, v in row.items() if k and v not in (None, "")}
    return out


class _CountedLines:
    """The lines of a text, counting those handed out: the csv module's own count does not
    name the line a parse error is on."""

    def __init__(self, text: str) -> None:
        self._lines = io.StringIO(text, newline="")
        self.count = 0

    def __iter__(self) -> Iterator[str]:
        for line in self._lines:
            self.count += 1
            yield line


def unused_names(metadata: Mapping[str, Any], enrolled: Iterable[str]) -> list[str]:
    """The metadata's people that an enrolment did not reach (a misspelt name, usually)."""
    return sorted(set(metadata) - set(enrolled))
