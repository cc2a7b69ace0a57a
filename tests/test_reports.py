"""What every interface shows: people's metadata read, CSV, text, tables, annotated images."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image, ImageColor

from facesift.errors import FacesiftError
from facesift.match.policy import verdict
from facesift.media.sources import MediaSource
from facesift.reports.annotate import MATCH_COLOR, UNKNOWN_COLOR, annotated_photo, face_labels
from facesift.reports.output import terminal_text
from facesift.reports.plots import verification_report_plot
from facesift.reports.tables import (
    CANDIDATE_COLUMNS,
    candidates_csv,
    faces_table,
    group_verification_table,
    history_table,
    media_table,
    people_table,
    stored_faces_table,
)
from facesift.reports.text import (
    calibration_status_lines,
    candidates_text,
    fmr_text,
    group_differential_lines,
    rate_text,
    verification_text,
)
from facesift.vision.quality import Quality
from facesift.workflows.metadata import read_people_metadata, unused_names
from facesift.workflows.results import (
    BestShot,
    CalibrationStatus,
    Candidate,
    Decision,
    FaceMatches,
    IdentifyResult,
    SearchResult,
    Source,
    TrackMatches,
    Verification,
)

DECISION = Decision(threshold=0.9, model={}, note="scores are evidence")


def _candidate(person: str, score: float, fmr: float | None, above: bool) -> Candidate:
    band = "strong" if above else "weak"
    return Candidate(person, 1, score, above, 7, fmr=fmr, band=band)


def _face(bbox: tuple[float, float, float, float], *candidates: Candidate) -> FaceMatches:
    return FaceMatches(bbox, 0.99, Quality(120.0, 300.0, 0.8766), list(candidates))


def _search(faces: list[FaceMatches]) -> SearchResult:
    return SearchResult("/cases/scene.jpg", "ab" * 32, 200, 120, faces, DECISION, 2)


def test_people_metadata_columns_become_attributes(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(
        "\ufeffperson,role,note\r\n"
        " Ada Lovelace ,analyst,\r\n"
        ',nobody,"left out"\r\n'
        'Grace Hopper,"Rear Admiral,\nUS Navy",x\r\n'.encode()
    )
    assert read_people_metadata(path) == {
        "Ada Lovelace": {"role": "analyst"},
        "Grace Hopper": {"role": "Rear Admiral,\nUS Navy", "note": "x"},
    }
    assert unused_names(read_people_metadata(path), ["Grace Hopper", "Other"]) == ["Ada Lovelace"]
    (tmp_path / "empty.csv").write_text("")
    assert read_people_metadata(tmp_path / "empty.csv") == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"who,role\nA,b\n", "people.csv: the metadata CSV needs a 'name' column"),
        (
            "name,role\nAda,x\nJos\xe9,y\n".encode("latin-1"),
            "people.csv: not UTF-8 text at line 3 (byte 19); save the CSV as UTF-8",
        ),
        (
            b"\xef\xbb\xbfname,role\n\xff,y\n",
            "people.csv: not UTF-8 text at line 2 (byte 13); save the CSV as UTF-8",
        ),
        (
            b'name,role\nAda,x\nBob,"' + b"y" * 200_000 + b'"\nCy,z\n',
            "people.csv: cannot read the metadata CSV at line 3: field larger than field limit",
        ),
    ],
)
def test_a_malformed_metadata_file_is_named_with_the_line(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "people.csv"
    path.write_bytes(content)
    with pytest.raises(FacesiftError) as raised:
        read_people_metadata(path)
    assert str(raised.value).startswith(f"{tmp_path}/{message}")


def test_a_missing_metadata_file_or_a_folder_is_named(tmp_path: Path) -> None:
    with pytest.raises(FacesiftError, match=r"missing\.csv: no such metadata file"):
        read_people_metadata(tmp_path / "missing.csv")
    with pytest.raises(FacesiftError, match="is a folder; --meta takes a CSV file"):
        read_people_metadata(tmp_path)


def test_a_parse_error_inside_a_quoted_field_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text('name,role\nAda,"multi\nline\n' + "y" * 200_000 + '"\n')
    with pytest.raises(FacesiftError, match=r"people\.csv: cannot read the metadata CSV at line 4"):
        read_people_metadata(path)


def test_identification_csv_escapes_formulas_and_keeps_every_face() -> None:
    formula = '=HYPERLINK("http://example.com","click")'
    posted = datetime(2022, 3, 1, 10, tzinfo=UTC)
    seen = (
        MediaSource("wacz", "w", url="@SUM(1+1)", captured_at=posted),
        MediaSource("telegram", "t", url="https://t.me/c/1/2", post_id="2", posted_at=posted),
    )
    source = Source("/cases/@home.jpg", "cd" * 32, media_sources=seen)
    face = FaceMatches(
        (10.04, 20.0, 110.0, 130.06), 0.99, Quality(120.0, 300.0, 0.8766),
        [_candidate(formula, 0.93456, 1.234e-4, True), _candidate("Ada", 0.5, None, False)],
        face_id=3, source=source,
    )  # fmt: skip
    lonely = FaceMatches((0, 0, 5, 5), 0.9, Quality(5, 1, 0.1), [], face_id=4, source=source)
    track = TrackMatches(
        1, 0.5, 2.25, 5, 22, 9, BestShot(12, None, (1, 2, 3, 4), 0.5, 3.0, face_id=9),
        [_candidate("-1+1", 0.95, 1e-5, True)],
        track_id=2, source=Source("/cases/clip.mp4", "ef" * 32),
    )  # fmt: skip
    result = IdentifyResult("c", [face, lonely], DECISION, 2, tracks=[track])
    text = candidates_csv(result)
    assert text.startswith(",".join(CANDIDATE_COLUMNS) + "\r\n")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    at = "2022-03-01T10:00:00+00:00"
    posts = ["'@SUM(1+1) | https://t.me/c/1/2", " | 2", " | " + at, at + " | "]
    assert rows == [
        ["3", "/cases/@home.jpg", "cd" * 32, "10.0", "20.0", "110.0", "130.1",
         "0.877", "1", "'" + formula, "0.9346", "0.000123", "strong", "True", "", "", "", "",
         *posts],
        ["3", "/cases/@home.jpg", "cd" * 32, "10.0", "20.0", "110.0", "130.1", "0.877", "2",
         "Ada", "0.5", "", "weak", "False", "", "", "", "", *posts],
        ["4", "/cases/@home.jpg", "cd" * 32, "0", "0", "5", "5", "0.1", "", "", "", "", "",
         "", "", "", "", "", *posts],
        ["9", "/cases/clip.mp4", "ef" * 32, "1", "2", "3", "4", "0.5", "1", "'-1+1", "0.95",
         "1e-05", "strong", "True", "2", "0.5", "2.25", "12", "", "", "", ""],
    ]  # fmt: skip


def test_a_search_csv_names_the_searched_file() -> None:
    result = _search([_face((1, 2, 3, 4), _candidate("Ada", 0.95, 1e-4, True))])
    (row,) = list(csv.DictReader(io.StringIO(candidates_csv(result))))
    assert (row["face_id"], row["path"], row["person"]) == ("", "/cases/scene.jpg", "Ada")


def test_the_annotated_photo_boxes_the_faces_where_they_are() -> None:
    photo = np.full((120, 200, 3), 60, np.uint8)
    known = _face((20, 40, 70, 100), _candidate("Ada", 0.97, 1e-6, True))
    stranger = _face((120, 30, 180, 90), _candidate("Ada", 0.6, 0.3, False))
    assert face_labels([known, stranger]) == (["1: Ada 0.97", "2: unknown"],
                                              [MATCH_COLOR, UNKNOWN_COLOR])  # fmt: skip
    drawn = np.asarray(annotated_photo(_search([known, stranger]), photo))
    assert drawn.shape == photo.shape
    for (x1, y1, x2, y2), color in (((20, 40, 70, 100), MATCH_COLOR),
                                    ((120, 30, 180, 90), UNKNOWN_COLOR)):  # fmt: skip
        middle = (y1 + y2) // 2
        for x, y in ((x1, middle), (x2, middle), ((x1 + x2) // 2, y2)):
            assert tuple(drawn[y, x]) == ImageColor.getrgb(color), (x, y)
        assert tuple(drawn[middle, (x1 + x2) // 2]) == (60, 60, 60)  # the face itself untouched
    assert (photo == 60).all()  # drawn on a copy
    untouched = drawn[105:, :]  # below every box and label
    assert (untouched == 60).all()


def test_rates_and_fmrs_as_text() -> None:
    assert fmr_text(1e-3) == "fmr 1.0e-03"
    assert fmr_text(0.0123) == "fmr 1.2e-02"
    assert fmr_text(None) == "fmr ?"
    assert rate_text(None) == "–"
    assert rate_text(1e-3) == "1.00e-03"
    assert rate_text(0.25) == "0.250"


def test_candidates_are_worded_with_band_and_mark(tmp_path: Path) -> None:
    strong = _candidate("Ada\x1b[2J", 0.9876, 1e-3, True)
    weak = _candidate("Bob", 0.5, None, False)
    assert candidates_text([strong, weak]) == (
        "Ada\x1b[2J  0.988  fmr 1.0e-03 strong *\nBob  0.500  fmr ? weak"
    )
    escaped = candidates_text([strong], terminal_text)
    assert escaped == "Ada\\x1b[2J  0.988  fmr 1.0e-03 strong *"
    result = Verification(
        True, 0.95, 2e-5, "strong", 1, 1, (0, 0, 1, 1), (0, 0, 1, 1), [], DECISION,
        verdict("strong"), fmr_is_bound=True,
    )  # fmt: skip
    assert verification_text(result) == (
        "score 0.950, fmr < 2.0e-05 (strong); above the threshold 0.900: "
        "strong match: rare between different people; a lead to confirm, not proof"
    )
    # Above the threshold but only "possible": the words never claim the same person.
    possible = Verification(
        True, 0.922, 4e-3, "possible", 1, 1, (0, 0, 1, 1), (0, 0, 1, 1), [], DECISION,
        verdict("possible"),
    )  # fmt: skip
    words = verification_text(possible)
    assert "fmr 4.0e-03 (possible)" in words and "several times in a thousand" in words
    assert "same person" not in words


def test_the_faces_table_numbers_faces_and_lists_candidates() -> None:
    known = _face((20.4, 40, 70, 100.6), _candidate("Ada", 0.97, 1e-6, True))
    alone = FaceMatches(
        (1, 2, 3, 4), 0.9, Quality(20.0, 1.0, 0.2), [], source=Source("/c/a\nb.jpg")
    )
    table = faces_table("scene: 2 face(s)", [known, alone], DECISION, terminal_text)
    assert [c.header for c in table.columns][:3] == ["#", "where", "quality"]
    assert table.rows[0] == ["1", "20, 40, 70, 101", "0.88", "Ada  0.970  fmr 1.0e-06 strong *"]
    assert table.rows[1][0] == "2" and table.rows[1][3] == "(gallery empty)"
    assert table.rows[1][1] == "/c/a\\nb.jpg\n[1, 2, 3, 4]"  # the name escaped, the layout kept
    assert table.rows[1][2].startswith("0.20 (")  # small and blurry: flagged
    assert table.caption == "threshold 0.900; scores are evidence"


def test_listing_tables_take_the_json_form() -> None:
    people = people_table([{"name": "Ada", "faces": 2, "attributes": {"role": "=x", "n": 1}}])
    assert people.rows == [["Ada", "2", "role==x, n=1"]]
    media = media_table(
        [{"path": "/c/a.jpg", "kind": "photo", "sha256": "0123456789abcdef", "size": 10,
          "width": 4, "height": 3, "faces": 1, "status": "error", "error": "truncated"}]
    )  # fmt: skip
    assert media.rows == [["/c/a.jpg", "photo", "0123456789ab", "10", "4×3", "1",
                           "error: truncated"]]  # fmt: skip
    faces = stored_faces_table(
        [{"id": 5, "path": "/c/v.mp4", "frame_index": 12, "timestamp": 0.4, "bbox": [1, 2.6, 3, 4],
          "quality": 0.456, "face_px": 80.4, "person": None}]
    )  # fmt: skip
    assert faces.rows == [["5", "/c/v.mp4", "12 @ 0.400", "1, 3, 3, 4", "0.46", "80", ""]]
    history = history_table(
        [{"at": "2026-01-02T03:04:05", "actor": "ana", "action": "remove_person",
          "person": "Bob", "face_ids": [3, 4], "note": None}]
    )  # fmt: skip
    assert history.rows == [["2026-01-02T03:04:05", "ana", "remove_person", "Bob", "3, 4", ""]]


def test_group_tables_show_rates_per_group() -> None:
    data = {
        "threshold": 0.9, "calibrated_fmr_1e-3_score": 0.93, "calibration": "shipped",
        "fmr_differential_at_threshold": 12.345, "fmr_differential_at_calibrated_1e-3": None,
        "rows": [{"group": "a", "identities": 3, "photos": 9, "impostor_pairs": 12345,
                  "fmr_at_threshold": 0.001, "fmr_at_calibrated_1e3": None,
                  "tar_at_threshold": 0.98, "median_impostor_score": 0.6,
                  "tar_at_true_fmr_1e3": 0.5}],
    }  # fmt: skip
    table = group_verification_table(data)
    assert table.rows == [["a", "3", "9", "12,345", "1.00e-03", "–", "0.980", "0.600", "0.500"]]
    assert table.columns[0].justify == "left" and table.columns[1].justify == "right"
    assert table.caption == "threshold 0.9; calibrated FMR 1e-3 score 0.93 (shipped calibration)"
    assert group_differential_lines(data) == ["fmr differential at threshold: 12.3×"]


def test_calibration_status_lines_give_each_operating_point() -> None:
    own = {
        "kind": "standard", "impostor_pairs": 123456, "sources": {
            "cases": {"pairs": 120000, "units": 40, "unit_kind": "videos"}},
        "operating_points": [
            {"fmr": 1e-3, "score": 0.91234, "resolved": True, "point_fmr": 0.00098,
             "interval": [0.0008, 0.0012]},
            {"fmr": 1e-4, "score": None, "resolved": False},
        ],
    }  # fmt: skip
    status = CalibrationStatus("case c", "own", 1e-3, 0.91234, None, own, None, ["mismatch"])
    assert calibration_status_lines(status) == [
        "case c: FMRs from the own calibration; decision threshold 0.9123 (estimated FMR 0.001)",
        "baseline: none",
        "own (standard): 123,456 different-person pairs; cases 120,000 pairs from 40 videos",
        "  FMR 1e-03 at score 0.9123 (measured 0.00098, 95% interval 0.0008–0.0012)",
        "  FMR 1e-04: too few pairs to resolve",
    ]


def test_verification_plot_marks_the_calibrated_threshold(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    same = np.arange(400) % 2 == 0
    scores = np.where(same, rng.normal(0.95, 0.02, 400), rng.normal(0.8, 0.05, 400))
    scores[3] = np.nan  # a photo without a face
    report = SimpleNamespace(scores=scores, same=same, pairs=400, calibrated_threshold=0.9)
    out = tmp_path / "curves.png"
    verification_report_plot(report, 0.92, "pairs.txt", out)  # type: ignore[arg-type]
    with Image.open(out) as picture:
        assert picture.format == "PNG" and picture.size[0] > 1000
    before = out.read_bytes()
    with pytest.raises(FacesiftError, match="exists"):
        verification_report_plot(report, 0.5, "other.txt", out)  # type: ignore[arg-type]
    assert out.read_bytes() == before  # an existing plot is kept unless forced
    verification_report_plot(report, 0.5, "other.txt", out, force=True)  # type: ignore[arg-type]
    assert out.read_bytes() != before
