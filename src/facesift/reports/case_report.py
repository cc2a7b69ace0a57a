"""A case report as one self-contained HTML file (images embedded) or a PDF made from the same
HTML by WeasyPrint, with paged-media rules: a header naming the case and the generation time,
page numbers, and no face or figure split across pages."""

from __future__ import annotations

import base64
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from facesift.match.policy import VERDICTS
from facesift.workflows.report import CaseReport

TEMPLATES = Path(__file__).resolve().parent / "templates"
FORMATS = ("html", "pdf")

_environment = Environment(
    loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]), trim_blocks=True
)


def _data_uri(jpeg: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(jpeg).decode()


def _duration(seconds: float) -> str:
    """6 s, 12 min 30 s, 3 h 05 min."""
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


_environment.filters["data_uri"] = _data_uri
_environment.filters["duration"] = _duration


def report_html(report: CaseReport) -> str:
    """The report as one HTML document (every image inside it)."""
    return _environment.get_template("case_report.html").render(r=report, verdicts=VERDICTS)


def report_pdf(report: CaseReport) -> bytes:
    """The report as a PDF, typeset from the same HTML."""
    from weasyprint import HTML

    return bytes(HTML(string=report_html(report)).write_pdf())


def render(report: CaseReport, fmt: str) -> bytes:
    if fmt == "html":
        return report_html(report).encode()
    if fmt == "pdf":
        return report_pdf(report)
    raise ValueError(f"a report is {' or '.join(FORMATS)}, not {fmt!r}")
