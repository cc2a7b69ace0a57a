"""README.md's measured figures agree with the result files they cite.

How README.md cites a figure: right after the figure (no space), an HTML comment, invisible
when the README is rendered, names the file and the key path of the value:

    raises rank-1 from 70.6%<!-- lfw_identification: figures/facesift_no_low_res/degraded/rank1 -->

- The file: `NAME` is benchmarks/results/NAME.json (written by benchmarks/NAME.py through
  benchmarks/_results.py); a path ending in `.json` is a committed file relative to the project
  root (e.g. a shipped calibration). Each cited benchmark result file must also be linked
  where readers see it (`benchmarks/results/NAME.json` in the README's text).
- The key path: keys separated by `/` (keys may contain dots); `A / B` (spaces around the
  slash) cites the ratio of two values of the same file.
- The figure: the number just before the comment, as printed — `75.3%`, `8.9e-4`, `3,095`,
  `12.5 M`, `5.9 million`, `31 k`, `107×`, `3.15 s`. A `%` figure is the value × 100; `M`,
  `million` and `k` are millions and thousands; other units (`×`, `s`, `ms`, `px`, `MiB`) are
  the value as it is.
- Agreement: the value, rounded as the README rounds the figure (its decimals, of the mantissa
  for `8.9e-4`), is the figure; a figure written as a bound (`≥ 0.9999`, `≤ 1e-4`) holds.

Figures published by others, and figures no benchmark here reproduces, are marked as such in
the README's text instead: "published" or "not re-measured" in their paragraph (or, for a
table, in the paragraph that introduces it). A paragraph with a measured-looking figure (a
percentage, a ratio like `11×`, a time in ms, a rate in faces/s or photos/s) and neither a
citation nor such a mark fails the test.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

CITATION = re.compile(
    r"(?P<bound>[≥≤] ?)?(?P<figure>\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?)"
    r"(?P<unit>\s*(?:%|×|million|M|k|ms|s|px|MiB))?"
    r"<!--\s*(?P<file>[\w./+-]+)\s*:\s*(?P<keys>[^>]*?)\s*-->"
)
SCALE = {"%": 100.0, "M": 1e-6, "million": 1e-6, "k": 1e-3}
MEASURED_LOOKING = re.compile(
    r"(?<![\w.×])\d[\d,]*(?:\.\d+)?(?:e[-+]?\d+)?\s?(?:%|×(?!\d)|ms\b|faces/s|photos/s)"
)
MARKS = ("not re-measured", "published")
COMMENT = re.compile(r"<!--\s*[\w./+-]+\s*:[^>]*-->")


@dataclass(frozen=True)
class Citation:
    line: int
    start: int  # offset of the figure in the text
    figure: str
    unit: str
    bound: str  # "≥" or "≤" when the figure is a bound, else ""
    file: str
    keys: str

    @property
    def path(self) -> Path:
        if self.file.endswith(".json"):
            return ROOT / self.file
        return ROOT / "benchmarks" / "results" / f"{self.file}.json"

    def __str__(self) -> str:
        figure = f"{self.bound}{self.figure}{self.unit}"
        return f"README.md:{self.line}: {figure} <- {self.file}: {self.keys}"


def citations(text: str) -> list[Citation]:
    out = []
    for match in CITATION.finditer(text):
        out.append(
            Citation(
                line=text.count("\n", 0, match.start()) + 1,
                start=match.start("figure"),
                figure=match["figure"],
                unit=(match["unit"] or "").strip(),
                bound=(match["bound"] or "").strip(),
                file=match["file"],
                keys=match["keys"],
            )
        )
    return out


def lookup(data: Any, keys: str) -> float:
    """The value at a `/`-separated key path, or the ratio `A / B` of two."""
    if " / " in keys:
        top, bottom = keys.split(" / ", 1)
        return lookup(data, top) / lookup(data, bottom)
    value = data
    for key in keys.split("/"):
        value = value[int(key)] if isinstance(value, list) else value[key]
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{keys} is {value!r}, not a number")
    return float(value)


def shown(value: float, figure: str) -> bool:
    """Whether `value` rounds to `figure` at the figure's precision."""
    number = figure.replace(",", "")
    mantissa, _, exponent = number.partition("e")
    decimals = len(mantissa.partition(".")[2])
    step = 10.0 ** (-decimals + (int(exponent) if exponent else 0))
    return abs(value - float(number)) <= step / 2 * (1 + 1e-9)


def agrees(value: float, cite: Citation) -> bool:
    figure = float(cite.figure.replace(",", ""))
    if cite.bound == "≥":
        return value >= figure
    if cite.bound == "≤":
        return value <= figure
    return shown(value, cite.figure)


def problems(text: str) -> list[str]:
    """Every disagreement between the README's cited figures and their files."""
    found = []
    parsed = {m.end() for m in CITATION.finditer(text)}
    for comment in COMMENT.finditer(text):
        if comment.end() not in parsed:
            line = text.count("\n", 0, comment.start()) + 1
            found.append(f"README.md:{line}: {comment[0]} follows no figure it can read")
    loaded: dict[Path, Any] = {}
    for cite in citations(text):
        if not cite.path.is_file():
            found.append(f"{cite}: {cite.path.relative_to(ROOT)} is missing")
            continue
        if cite.path not in loaded:
            loaded[cite.path] = json.loads(cite.path.read_text())
        try:
            value = lookup(loaded[cite.path], cite.keys)
        except (KeyError, IndexError, ValueError, TypeError, ZeroDivisionError) as exc:
            found.append(f"{cite}: no such value ({exc!r})")
            continue
        scaled = value * SCALE.get(cite.unit, 1.0)
        if not math.isfinite(scaled) or not agrees(scaled, cite):
            found.append(f"{cite}: the file says {scaled:.6g}")
        if not cite.file.endswith(".json") and f"benchmarks/results/{cite.file}.json" not in text:
            found.append(f"{cite}: benchmarks/results/{cite.file}.json is not linked")
    return found


def test_readme_cites_figures() -> None:
    cites = citations(README.read_text())
    assert len(cites) >= 40, "the citation syntax no longer matches README.md"
    assert {c.file for c in cites} >= {"lfw_identification", "population_calibration"}


def test_readme_figures_agree_with_their_result_files() -> None:
    assert problems(README.read_text()) == []


def unsourced(text: str) -> list[str]:
    """Paragraphs with measured-looking figures but no citation and no mark."""
    paragraphs = re.split(r"\n\s*\n", text)
    out = []
    for k, paragraph in enumerate(paragraphs):
        figures = MEASURED_LOOKING.findall(paragraph)
        before = paragraphs[k - 1] if k else ""
        marked = any(m in paragraph or m in before for m in MARKS)
        if figures and "<!--" not in paragraph and not marked:
            out.append(f"{figures} in: {paragraph[:80]!r}")
    return out


def test_no_measured_figure_without_a_source() -> None:
    assert unsourced(README.read_text()) == []
    assert unsourced("Scans run at 12.5 photos/s on 2 cores.")


@pytest.mark.parametrize(
    ("figure", "value", "ok"),
    [
        ("75.3", 75.26, True),
        ("75.3", 75.36, False),
        ("8.9e-4", 8.94e-4, True),
        ("8.9e-4", 9.6e-4, False),
        ("3,095", 3095, True),
        ("0.70", 0.7017, True),
        ("0.70", 0.71, False),
        ("107", 107.2, True),
    ],
)
def test_rounding(figure: str, value: float, ok: bool) -> None:
    assert shown(value, figure) is ok


def test_an_edited_figure_fails() -> None:
    """Change the last digit of each cited figure in turn (by 2: a value exactly halfway
    between two roundings agrees with both): the check must notice every one."""
    text = README.read_text()
    for cite in citations(text):
        if cite.bound:  # a bound holds for many figures; just past the value, it must fail
            value = lookup(json.loads(cite.path.read_text()), cite.keys)
            value *= SCALE.get(cite.unit, 1.0)
            edited = f"{value * (1.000001 if cite.bound == '≥' else 0.999999):.12g}"
            mutated = text[: cite.start] + edited + text[cite.start + len(cite.figure) :]
            assert problems(mutated), f"{cite}: tightened to {edited} without notice"
            continue
        digit = cite.figure[-1]
        edited = cite.figure[:-1] + str((int(digit) + 2) % 10)
        mutated = text[: cite.start] + edited + text[cite.start + len(cite.figure) :]
        assert problems(mutated), f"{cite}: edited to {edited} without notice"


def test_a_citation_without_a_readable_figure_fails() -> None:
    assert problems("rank-1 of seventy<!-- lfw_identification: figures/facesift -->")


def test_a_missing_result_file_fails() -> None:
    text = "rank-1 75.3%<!-- no_such_benchmark: figures/x -->"
    assert any("is missing" in p for p in problems(text))
