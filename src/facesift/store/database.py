"""Opening a store: SQLite file by default, any SQLAlchemy URL (PostgreSQL) for teams."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, LargeBinary, create_engine, event, inspect, make_url, select, text
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import Session, sessionmaker

from facesift.errors import WorkspaceError
from facesift.store.schema import SCHEMA_VERSION, Base, Setting


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


T = TypeVar("T")

# How long a writer waits for another's lock on a SQLite file before it gives up (seconds).
SQLITE_BUSY_SECONDS = 60.0


def open_engine(url: str) -> Engine:
    """A SQLAlchemy engine with the schema created and its version checked.

    Safe when several processes open a new store at once: on PostgreSQL one creates the
    schema while the others wait on a lock; on SQLite a loser of the race retries.
    """
    sqlite = url.startswith("sqlite")
    try:
        shown = make_url(url).render_as_string(hide_password=True)
        engine = create_engine(
            url, future=True, connect_args={"timeout": SQLITE_BUSY_SECONDS} if sqlite else {}
        )
    except (ArgumentError, ImportError) as exc:
        raise WorkspaceError(f"cannot use the database URL {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    for attempt in range(8):
        try:
            _create_schema(engine)
            return engine
        except DBAPIError as exc:
            if attempt == 7 or not _is_creation_race(exc):
                engine.dispose()
                raise WorkspaceError(f"cannot open the database {shown}: {exc.orig}") from None
            time.sleep(0.1 * (attempt + 1) * (1 + random.random()))
    return engine


def _is_creation_race(exc: DBAPIError) -> bool:
    """Another process creating the same new store at the same moment."""
    if isinstance(exc, IntegrityError | ProgrammingError):
        return True
    message = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and (
        "already exists" in message or "locked" in message
    )


def _create_schema(engine: Engine) -> None:
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":  # one creator at a time
            connection.execute(text("SELECT pg_advisory_xact_lock(7212604215)"))
        Base.metadata.create_all(connection)
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
            if row.value != str(SCHEMA_VERSION):
                row.value = str(SCHEMA_VERSION)


def transaction(sessions: sessionmaker[Session], work: Callable[[Session], T]) -> T:
    """Run `work` in one transaction, again from the start when it collided with another
    writer (a row another process inserted first, a lock held too long): the caller's work
    must read what it decides on inside `work`, so a retry sees the other writer's result."""
    for attempt in range(6):
        try:
            with sessions.begin() as session:
                return work(session)
        except (IntegrityError, OperationalError) as exc:
            if attempt == 5 or not _is_collision(exc):
                raise
            time.sleep(0.05 * (attempt + 1) * (1 + random.random()))
    raise AssertionError("unreachable")


def _is_collision(exc: DBAPIError) -> bool:
    if isinstance(exc, IntegrityError):
        return True
    message = str(exc.orig).lower()
    return "locked" in message or "deadlock" in message or "could not serialize" in message


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
    media_columns = {c["name"] for c in inspect(session.connection()).get_columns("media")}
    if "link_target" not in media_columns:  # version 3: where symbolic links point
        session.execute(text("ALTER TABLE media ADD COLUMN link_target TEXT"))


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
