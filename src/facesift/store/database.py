"""Opening a store: SQLite file by default, any SQLAlchemy URL (PostgreSQL) for teams."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, LargeBinary, create_engine, event, inspect, select, text
from sqlalchemy.orm import Session, sessionmaker

from facesift.errors import WorkspaceError
from facesift.store.schema import SCHEMA_VERSION, Base, Setting


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


def open_engine(url: str) -> Engine:
    """A SQLAlchemy engine with the schema created and its version checked."""
    engine = create_engine(url, future=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    Base.metadata.create_all(engine)
    with Session(engine) as session, session.begin():
        row = session.get(Setting, "schema_version")
        if row is None:
            session.add(Setting(key="schema_version", value=str(SCHEMA_VERSION)))
        elif int(row.value) > SCHEMA_VERSION:
            raise WorkspaceError(
                f"the database at {engine.url!r} has schema version {row.value}, newer than this "
                f"facesift ({SCHEMA_VERSION}); upgrade facesift"
            )
        else:
            _add_missing_columns(session)
            row.value = str(SCHEMA_VERSION)
    return engine


def _add_missing_columns(session: Session) -> None:
    """Bring an older store up to this schema in place; nothing stored is lost.

    New tables are made by create_all; columns added to existing tables since version 1 are
    added here when missing (checked on every open: cheap, and safe whatever the version says).
    """
    dialect = session.get_bind().dialect
    columns = {c["name"] for c in inspect(session.connection()).get_columns("faces")}
    if "track_id" not in columns:  # version 2: video tracks
        session.execute(
            text(
                "ALTER TABLE faces ADD COLUMN track_id INTEGER"
                " REFERENCES tracks(id) ON DELETE SET NULL"
            )
        )
    blob = LargeBinary().compile(dialect=dialect)
    for name in ("crop", "low_res_embedding"):  # version 2: track crops, low-res templates
        if name not in columns:
            session.execute(text(f"ALTER TABLE faces ADD COLUMN {name} {blob}"))


def make_sessions(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def read_setting(session: Session, key: str, default: str | None = None) -> str | None:
    value = session.scalar(select(Setting.value).where(Setting.key == key))
    return default if value is None else value


def write_setting(session: Session, key: str, value: str) -> None:
    row = session.get(Setting, key)
    if row is None:
        session.add(Setting(key=key, value=value))
    else:
        row.value = value


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()
