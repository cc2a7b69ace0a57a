"""What every interface shows: people's metadata read, CSV, text, tables, annotated images."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from PIL import ImageColor

from facesift.errors import FacesiftError
from facesift.reports.annotate import MATCH_COLOR, UNKNOWN_COLOR, annotated_photo, face_labels
from facesift.reports.tables import CANDIDATE_COLUMNS, candidates_csv
from facesift.vision.quality import Quality
from facesift.workflows.metadata import read_people_metadata, unused_names
from facesift.workflows.results import (
    Candidate,
    Decision,
    FaceMatches,
    IdentifyResult,
    SearchResult,
    TrackMatches,
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
    source = {"path": "/cases/@home.jpg", "sha256": "cd" * 32}
    face = FaceMatches(
        (10.04, 20.0, 110.0, 130.06), 0.99, Quality(120.0, 300.0, 0.8766),
        [_candidate(formula, 0.93456, 1.234e-4, True), _candidate("Ada", 0.5, None, False)],
        face_id=3, source=source,
    )  # fmt: skip
    lonely = FaceMatches((0, 0, 5, 5), 0.9, Quality(5, 1, 0.1), [], face_id=4, source=source)
    track = TrackMatches(
        1, 0.5, 2.25, 5, 22, 9, {"face_id": 9, "bbox": [1, 2, 3, 4], "quality": 0.5,
                                 "frame_index": 12}, [_candidate("-1+1", 0.95, 1e-5, True)],
        track_id=2, source={"path": "/cases/clip.mp4", "sha256": "ef" * 32},
    )  # fmt: skip
    result = IdentifyResult("c", [face, lonely], DECISION, 2, tracks=[track])
    text = candidates_csv(result)
    assert text.startswith(",".join(CANDIDATE_COLUMNS) + "\r\n")
    rows = list(csv.reader(io.StringIO(text)))[1:]
    assert rows == [
        ["3", "/cases/@home.jpg", "cd" * 32, "10.0", "20.0", "110.0", "130.1",
         "0.877", "1", "'" + formula, "0.9346", "0.000123", "strong", "True", "", "", "", ""],
        ["3", "/cases/@home.jpg", "cd" * 32, "10.0", "20.0", "110.0", "130.1", "0.877", "2",
         "Ada", "0.5", "", "weak", "False", "", "", "", ""],
        ["4", "/cases/@home.jpg", "cd" * 32, "0", "0", "5", "5", "0.1", "", "", "", "", "",
         "", "", "", "", ""],
        ["9", "/cases/clip.mp4", "ef" * 32, "1", "2", "3", "4", "0.5", "1", "'-1+1", "0.95",
         "1e-05", "strong", "True", "2", "0.5", "2.25", "12"],
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
