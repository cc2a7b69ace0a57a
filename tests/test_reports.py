"""What every interface shows: people's metadata read, CSV, text, tables, annotated images."""

from __future__ import annotations

from pathlib import Path

import pytest

from facesift.errors import FacesiftError
from facesift.workflows.metadata import read_people_metadata, unused_names


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
