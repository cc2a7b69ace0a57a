"""Schema migrations: stores made by earlier releases upgrade in place and lose nothing.

The fixtures (tests/fixtures/README.md) are workspace databases made by the earlier releases'
own code: version 1 (photos only), version 2 (video tracks, before low-resolution templates)
and version 3 (the last release before Alembic). On PostgreSQL each is rebuilt from that
release's DDL and the SQLite fixture's rows. Every one is opened with the current code and
compared row by row with the fixture.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image, ImageEnhance, ImageOps
from sqlalchemy import (
    Connection,
    Engine,
    MetaData,
    Table,
    create_engine,
    inspect,
    select,
    text,
    update,
)

from facesift import FaceEngine, Workspace, samples
from facesift.errors import WorkspaceError
from facesift.store import migrations
from facesift.store.database import make_engine, migration_connection, open_engine
from facesift.store.schema import SCHEMA_VERSION, Base

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SRC = Path(__file__).resolve().parents[1] / "src"
# Fixture -> the revision its tables match.
RELEASES = {"v1": "0001", "v2": "0002", "v3": "0004"}
BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
# Tables in an order that inserts parents first (tracks.best_face_id is set after the faces).
TABLES = [
    "settings",
    "people",
    "cases",
    "media",
    "case_media",
    "tracks",
    "faces",
    "gallery_changes",
]


# -- the stores -------------------------------------------------------------------------------


def _fixture(tmp_path: Path, name: str) -> Engine:
    """A read engine on a private copy of the fixture (opening the committed file itself
    could leave WAL files next to it)."""
    copy = tmp_path / "fixtures" / f"{name}.db"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(FIXTURES / f"workspace-{name}.db", copy)
    return create_engine(f"sqlite:///{copy}")


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def store_url(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the store under test lives: a workspace's SQLite file, or a fresh PostgreSQL
    schema (empty until a test loads a fixture into it)."""
    if backend == "sqlite":
        (tmp_path / "ws").mkdir()
        yield f"sqlite:///{tmp_path / 'ws' / 'facesift.db'}"
    else:
        yield request.getfixturevalue("postgres_url")


def _load(name: str, url: str, tmp_path: Path) -> None:
    """Put fixture `name` at `url` as that release left it: on SQLite the file itself; on
    PostgreSQL the release's DDL, then the fixture's rows (ids and sequences as they were)."""
    if url.startswith("sqlite"):
        shutil.copy(FIXTURES / f"workspace-{name}.db", url.removeprefix("sqlite:///"))
        return
    source = _fixture(tmp_path, name)
    rows = {t: _table_rows(source, t) for t in inspect(source).get_table_names()}
    source.dispose()
    engine = create_engine(url)
    with engine.begin() as connection:
        for statement in (FIXTURES / f"workspace-{name}.postgresql.sql").read_text().split(";\n"):
            if statement.strip():
                connection.exec_driver_sql(statement)
        metadata = MetaData()
        metadata.reflect(connection)
        for name_ in TABLES:
            if name_ not in rows or not rows[name_]:
                continue
            table = metadata.tables[name_]
            values = [{k: _utc(v) for k, v in row.items()} for row in rows[name_]]
            if name_ == "tracks":
                connection.execute(table.insert(), [{**v, "best_face_id": None} for v in values])
            else:
                connection.execute(table.insert(), values)
        for row in rows.get("tracks", []):
            tracks = metadata.tables["tracks"]
            connection.execute(
                update(tracks)
                .where(tracks.c.id == row["id"])
                .values(best_face_id=row["best_face_id"])
            )
        for name_ in rows:
            if "id" in metadata.tables[name_].c:
                connection.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name_}', 'id'), max(id)) "
                        f"FROM {name_} HAVING max(id) IS NOT NULL"
                    )
                )
    engine.dispose()


def _utc(value: Any) -> Any:
    """A stored time as an aware UTC datetime (SQLite keeps them without their zone)."""
    if isinstance(value, datetime):
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    if isinstance(value, memoryview):
        return bytes(value)
    return value


def _table_rows(engine: Engine, name: str, columns: list[str] | None = None) -> list[dict]:
    """Every row of table `name` (only `columns`, when given), ordered by primary key, values
    decoded by the column types (JSON parsed, times aware UTC, blobs as bytes)."""
    table = Table(name, MetaData(), autoload_with=engine)
    chosen = [table.c[c] for c in (columns or table.c.keys())]
    with engine.connect() as connection:
        result = connection.execute(select(*chosen).order_by(*table.primary_key.columns))
        return [{k: _utc(v) for k, v in row._mapping.items()} for row in result]


def _columns(engine: Engine) -> dict[str, list[str]]:
    inspector = inspect(engine)
    return {
        t: [c["name"] for c in inspector.get_columns(t)]
        for t in inspector.get_table_names()
        if t != "alembic_version"
    }


def _revisions(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.scalars(text("SELECT version_num FROM alembic_version")))


def _label(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return connection.scalar(text("SELECT value FROM settings WHERE key = 'schema_version'"))


def _differences(engine: Engine) -> list[Any]:
    """What Alembic's autogenerate finds between the store and today's models."""
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return list(compare_metadata(MigrationContext.configure(connection), Base.metadata))


def _structure(connection: Connection) -> dict[str, Any]:
    """Tables as the database describes them: columns (type, nullable, default), keys,
    references (not their names: SQLite keeps unnamed ones), unique constraints, indexes."""
    inspector = inspect(connection)
    tables: dict[str, Any] = {}
    for table in inspector.get_table_names():
        if table == "alembic_version":
            continue
        tables[table] = {
            "columns": {
                c["name"]: (repr(c["type"]), c["nullable"], c.get("default"))
                for c in inspector.get_columns(table)
            },
            "primary_key": inspector.get_pk_constraint(table)["constrained_columns"],
            "foreign_keys": sorted(
                (
                    tuple(f["constrained_columns"]),
                    f["referred_table"],
                    tuple(f["referred_columns"]),
                    f["options"].get("ondelete"),
                )
                for f in inspector.get_foreign_keys(table)
            ),
            "unique": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(table)
            ),
            "indexes": sorted(
                (i["name"] or "", tuple(c or "" for c in i["column_names"]), i["unique"])
                for i in inspector.get_indexes(table)
            ),
        }
    return tables


def _migrate(url: str, command: str, revision: str) -> None:
    """Run Alembic's `command` ("upgrade", "downgrade") to `revision` the way open_engine
    runs migrations: one transaction, under the schema lock."""
    from alembic import command as commands

    engine = make_engine(url)
    try:
        with migration_connection(engine) as connection:
            getattr(commands, command)(migrations.config(connection), revision)
    finally:
        engine.dispose()


def _drop_all(url: str) -> None:
    engine = create_engine(url)
    with engine.begin() as connection:
        for table in inspect(connection).get_table_names():
            connection.exec_driver_sql(f'DROP TABLE IF EXISTS "{table}" CASCADE')
    engine.dispose()


# -- the scripts and a new store --------------------------------------------------------------


def test_head_names_the_newest_script() -> None:
    scripts = migrations.scripts()
    assert scripts.get_heads() == [migrations.HEAD]
    chain = [s.revision for s in reversed(list(scripts.walk_revisions()))]
    assert chain == ["0001", "0002", "0003", "0004", "0005", "0006", "0007"]
    assert [r for r, _ in migrations.LEGACY_REVISIONS] == chain


def test_a_new_store_is_exactly_the_models(store_url: str) -> None:
    engine = open_engine(store_url)
    assert _differences(engine) == []
    assert _revisions(engine) == [migrations.HEAD]
    assert _label(engine) == str(SCHEMA_VERSION)
    engine.dispose()


def test_every_revision_goes_down_and_up_again(store_url: str) -> None:
    engine = open_engine(store_url)
    _migrate(store_url, "downgrade", "base")
    assert set(inspect(engine).get_table_names()) == {"alembic_version"}
    _migrate(store_url, "upgrade", "head")
    assert _differences(engine) == []
    engine.dispose()


@pytest.mark.parametrize("release", RELEASES)
def test_each_revision_makes_the_tables_its_release_made(
    release: str, store_url: str, tmp_path: Path
) -> None:
    """Upgraded to the revision a release's stores match, an empty database has the tables
    that release's own code created (the fixture's)."""
    _load(release, store_url, tmp_path)
    engine = create_engine(store_url)
    with engine.connect() as connection:
        made_by_release = _structure(connection)
    engine.dispose()  # (a pooled SQLite connection would keep reading the old file)
    if store_url.startswith("sqlite"):
        Path(store_url.removeprefix("sqlite:///")).unlink()
    else:
        _drop_all(store_url)
    _migrate(store_url, "upgrade", RELEASES[release])
    with engine.connect() as connection:
        assert _structure(connection) == made_by_release
    engine.dispose()


# -- stores of earlier releases ---------------------------------------------------------------


@pytest.mark.parametrize("release", RELEASES)
def test_an_older_store_is_recognised_by_its_tables(release: str, tmp_path: Path) -> None:
    engine = _fixture(tmp_path, release)
    with engine.connect() as connection:
        assert migrations.legacy_revision(connection) == RELEASES[release]
    engine.dispose()


@pytest.mark.parametrize("release", RELEASES)
def test_an_older_store_upgrades_in_place_and_loses_nothing(
    release: str, store_url: str, tmp_path: Path
) -> None:
    _load(release, store_url, tmp_path)
    fixture = _fixture(tmp_path, release)
    before = _columns(fixture)
    engine = open_engine(store_url)
    assert _revisions(engine) == [migrations.HEAD]
    assert _label(engine) == str(SCHEMA_VERSION)
    assert _differences(engine) == []
    after = _columns(engine)
    for table, columns in before.items():
        kept, was = _table_rows(engine, table, columns), _table_rows(fixture, table)
        if table == "settings":  # all the same but the label, now this code's version
            relabelled = {"key": "schema_version", "value": str(SCHEMA_VERSION)}
            was = [relabelled if r["key"] == "schema_version" else r for r in was]
        assert kept == was, table  # every row, every value
        added = [c for c in after[table] if c not in columns]
        if added and kept:  # columns the upgrade added are empty on the old rows
            assert {v for row in _table_rows(engine, table, added) for v in row.values()} == {
                None
            }, table
    embeddings = _table_rows(engine, "faces", ["id", "embedding"])
    assert embeddings and all(isinstance(r["embedding"], bytes) for r in embeddings)
    fixture.dispose()
    engine.dispose()


def test_a_store_labelled_2_is_told_apart_by_its_columns(tmp_path: Path) -> None:
    """Stores labelled version 2 exist with and without low-resolution templates: one with
    them (version 3 taken back to its version 2 state) is stamped after them and upgraded."""
    store = tmp_path / "ws.db"
    shutil.copy(FIXTURES / "workspace-v3.db", store)
    engine = create_engine(f"sqlite:///{store}")
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE gallery_changes")
        connection.exec_driver_sql("ALTER TABLE media DROP COLUMN link_target")
        connection.exec_driver_sql("UPDATE settings SET value = '2' WHERE key = 'schema_version'")
    with engine.connect() as connection:
        assert migrations.legacy_revision(connection) == "0003"
    engine.dispose()
    engine = open_engine(f"sqlite:///{store}")
    assert _revisions(engine) == [migrations.HEAD] and _differences(engine) == []
    fixture = _fixture(tmp_path, "v3")
    assert _table_rows(engine, "faces") == _table_rows(fixture, "faces")
    engine.dispose()
    fixture.dispose()


def test_an_upgrade_interrupted_before_migrations_is_finished(tmp_path: Path) -> None:
    """A version 1 store whose upgrade to version 2 stopped after creating the tracks table
    (before the columns were added) is recognised as version 1 and completed."""
    store = tmp_path / "ws.db"
    shutil.copy(FIXTURES / "workspace-v1.db", store)
    v2 = _fixture(tmp_path, "v2")
    with v2.connect() as connection:
        create_tracks = connection.scalar(
            text("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'tracks'")
        )
    v2.dispose()
    engine = create_engine(f"sqlite:///{store}")
    with engine.begin() as connection:
        connection.exec_driver_sql(create_tracks)
    with engine.connect() as connection:
        assert migrations.legacy_revision(connection) == "0001"
    engine.dispose()
    engine = open_engine(f"sqlite:///{store}")
    assert _revisions(engine) == [migrations.HEAD] and _differences(engine) == []
    engine.dispose()


def test_a_store_changed_behind_the_migrations_is_judged_by_its_tables(
    store_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Recorded at the newest revision, but labelled 2 and without what version 3 added (as
    code before the migrations would leave it): its tables decide, and it is upgraded."""
    _load("v3", store_url, tmp_path)
    open_engine(store_url).dispose()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("DROP TABLE gallery_changes")
        connection.exec_driver_sql("ALTER TABLE media DROP COLUMN link_target")
        connection.exec_driver_sql("UPDATE settings SET value = '2' WHERE key = 'schema_version'")
    with caplog.at_level(logging.INFO, logger="alembic"):
        open_engine(store_url).dispose()
    assert f"tables are at revision 0003, not {migrations.HEAD}" in caplog.text
    assert "Running upgrade 0003 -> 0004" in caplog.text
    assert _revisions(engine) == [migrations.HEAD] and _differences(engine) == []
    assert _label(engine) == str(SCHEMA_VERSION)
    engine.dispose()


@pytest.mark.parametrize("release", ["v1", "v3"])
def test_a_failed_upgrade_changes_nothing(
    release: str, store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _load(release, store_url, tmp_path)
    engine = create_engine(store_url)
    with engine.connect() as connection:
        before = _structure(connection)
    upgrade = migrations.upgrade

    def upgrade_then_fail(connection: Connection, **options: Any) -> None:
        upgrade(connection, **options)
        raise RuntimeError("power cut")

    monkeypatch.setattr(migrations, "upgrade", upgrade_then_fail)
    with pytest.raises(RuntimeError, match="power cut"):
        open_engine(store_url)
    with engine.connect() as connection:
        assert _structure(connection) == before
        assert not inspect(connection).has_table("alembic_version")
    monkeypatch.undo()
    assert _revisions(open_engine(store_url)) == [migrations.HEAD]
    engine.dispose()


def test_a_table_copied_by_a_migration_keeps_the_rows_that_reference_it(
    store_url: str, tmp_path: Path
) -> None:
    """On SQLite, taking link_target off `media` copies the table and drops the old one:
    with foreign keys on that drop would delete every face, track and case link of it."""
    _load("v3", store_url, tmp_path)
    open_engine(store_url).dispose()
    engine = create_engine(store_url)
    counted = {t: len(_table_rows(engine, t)) for t in ("faces", "tracks", "case_media")}
    _migrate(store_url, "downgrade", "0003")
    assert "link_target" not in _columns(engine)["media"]
    assert {t: len(_table_rows(engine, t)) for t in counted} == counted
    open_engine(store_url).dispose()  # and up again
    fixture = _fixture(tmp_path, "v3")
    for table in ("faces", "tracks", "case_media"):
        assert _table_rows(engine, table) == _table_rows(fixture, table)
    engine.dispose()
    fixture.dispose()


# -- refusals ---------------------------------------------------------------------------------


def test_a_store_of_a_newer_release_is_refused(store_url: str, tmp_path: Path) -> None:
    _load("v3", store_url, tmp_path)
    open_engine(store_url).dispose()
    engine = create_engine(store_url)
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE alembic_version SET version_num = 'f00dfeed0005'")
    with pytest.raises(WorkspaceError) as refused:
        open_engine(store_url)
    message = str(refused.value)
    shown = engine.url.render_as_string(hide_password=True)
    assert shown in message and "f00dfeed0005" in message and "newer" in message
    assert "upgrade facesift" in message
    with engine.connect() as connection:  # and left as it was
        assert connection.scalar(text("SELECT version_num FROM alembic_version")) == (
            "f00dfeed0005"
        )
    engine.dispose()


def test_a_store_labelled_newer_before_migrations_is_refused(tmp_path: Path) -> None:
    store = tmp_path / "ws.db"
    shutil.copy(FIXTURES / "workspace-v3.db", store)
    engine = create_engine(f"sqlite:///{store}")
    with engine.begin() as connection:
        connection.exec_driver_sql("UPDATE settings SET value = '9' WHERE key = 'schema_version'")
    engine.dispose()
    with pytest.raises(WorkspaceError, match=r"schema version 9, newer .* upgrade facesift"):
        open_engine(f"sqlite:///{store}")


# -- opening: cheap at head, one migrator at a time -------------------------------------------


def test_opening_a_store_at_head_does_not_load_alembic(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'ws.db'}"
    open_engine(url).dispose()
    check = (
        "import sys; from facesift.store.database import open_engine; "
        f"open_engine({url!r}).dispose(); "
        "assert 'alembic' not in sys.modules, 'alembic imported'"
    )
    done = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True, env=_env())
    assert done.returncode == 0, done.stderr


def _env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


OPENER = """
import logging, sys, time
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
from facesift.store.database import open_engine
start = float(sys.argv[2])
time.sleep(max(0.0, start - time.time()))
open_engine(sys.argv[1]).dispose()
print("opened")
"""


@pytest.mark.parametrize("release", ["v1", "v3"])
def test_processes_opening_an_older_store_at_once_migrate_it_once(
    release: str, store_url: str, tmp_path: Path
) -> None:
    import time

    _load(release, store_url, tmp_path)
    start = time.time() + 2.0  # all start together, once their imports are done
    running = [
        subprocess.Popen(
            [sys.executable, "-c", OPENER, store_url, str(start)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=_env(),
        )
        for _ in range(4)
    ]
    outputs = []
    for process in running:
        out, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
        outputs.append(out)
    assert all(out.rstrip().endswith("opened") for out in outputs)
    stamped = [out for out in outputs if "made before migrations" in out]
    migrated = [out for out in outputs if "Running upgrade" in out]
    assert len(stamped) == 1, outputs  # one process took the store over
    assert len(migrated) == (0 if RELEASES[release] == migrations.HEAD else 1), outputs
    engine = create_engine(store_url)
    assert _revisions(engine) == [migrations.HEAD] and _differences(engine) == []
    fixture = _fixture(tmp_path, release)
    assert _table_rows(engine, "faces", _columns(fixture)["faces"]) == _table_rows(fixture, "faces")
    engine.dispose()
    fixture.dispose()


def test_migrations_say_what_they_do(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    """Alembic's log names each step (the processes test above counts on it)."""
    store = tmp_path / "ws.db"
    shutil.copy(FIXTURES / "workspace-v2.db", store)
    with caplog.at_level(logging.INFO, logger="alembic"):
        open_engine(f"sqlite:///{store}").dispose()
    steps = [r.getMessage() for r in caplog.records if r.getMessage().startswith("Running")]
    assert [s.split(",")[0] for s in steps] == [
        "Running upgrade 0002 -> 0003",
        "Running upgrade 0003 -> 0004",
        "Running upgrade 0004 -> 0005",
        "Running upgrade 0005 -> 0006",
        "Running upgrade 0006 -> 0007",
    ]


# -- the upgraded workspace at work -----------------------------------------------------------


def _case_faces(fixture: Engine, case: str, model_sha256: str) -> tuple[set[int], set[int]]:
    """The ids of the photo faces and of the tracks that identify(case=...) should list."""
    with fixture.connect() as connection:
        has_tracks = inspect(connection).has_table("tracks")
        faces = connection.scalars(
            text(
                "SELECT f.id FROM faces f JOIN case_media cm ON cm.media_id = f.media_id "
                "JOIN cases c ON c.id = cm.case_id WHERE c.name = :case "
                "AND f.person_id IS NULL AND f.model_sha256 = :sha"
                + (" AND f.track_id IS NULL" if has_tracks else "")
            ),
            {"case": case, "sha": model_sha256},
        )
        tracks = (
            connection.scalars(
                text(
                    "SELECT t.id FROM tracks t JOIN case_media cm ON cm.media_id = t.media_id "
                    "JOIN cases c ON c.id = cm.case_id WHERE c.name = :case"
                ),
                {"case": case},
            )
            if has_tracks
            else []
        )
        return set(faces), set(tracks)


def _people(fixture: Engine) -> dict[str, int]:
    with fixture.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT p.name, count(f.id) FROM people p LEFT JOIN faces f "
                "ON f.person_id = p.id GROUP BY p.name"
            )
        )
        return {name: n for name, n in rows}


def _new_photo(source: Path, out: Path, change: Callable[[Image.Image], Image.Image]) -> Path:
    change(Image.open(source).convert("RGB")).save(out)
    return out


@pytest.mark.parametrize("release", RELEASES)
def test_an_upgraded_workspace_works(
    release: str, store_url: str, tmp_path: Path, engine: FaceEngine
) -> None:
    _load(release, store_url, tmp_path)
    fixture = _fixture(tmp_path, release)
    faces, tracks = _case_faces(fixture, "harbour", engine.model_sha256)
    people = _people(fixture)
    fixture.dispose()
    url = None if store_url.startswith("sqlite") else store_url
    with Workspace(tmp_path / "ws", engine=engine, database_url=url) as ws:
        assert {p.name: p.faces for p in ws.people()} == people
        found = ws.identify(case="harbour")
        assert {f.face_id for f in found.faces} == faces and faces
        assert {t.track_id for t in found.tracks} == tracks
        # A new enrolment and a new scan.
        hopper = _new_photo(
            samples.grace_hopper(), tmp_path / "hopper_mirrored.png", ImageOps.mirror
        )
        (outcome,) = ws.enroll("Grace Hopper", [hopper])
        assert outcome.status == "enrolled", outcome
        collins = _new_photo(
            samples.eileen_collins(),
            tmp_path / "collins_dim.jpg",
            lambda im: ImageEnhance.Brightness(im).enhance(0.8),
        )
        report = ws.scan([collins], case="after", workers=1)
        assert report.faces == 1 and not report.errors
        (face,) = ws.identify(case="after").faces
        assert face.candidates
        assert {p.name: p.faces for p in ws.people()}["Grace Hopper"] == (
            people["Grace Hopper"] + 1
        )
