"""Opening a store: SQLite file by default, any SQLAlchemy URL (PostgreSQL) for teams.

The schema is made and upgraded by the Alembic migrations in `facesift.store.migrations`,
run by `open_engine`: a store already at the newest revision costs a look at its
`alembic_version` table and `schema_version` setting (Alembic is not even imported); any other
is migrated in place, one process at a time. To change the schema, change `schema.py` and add
a migration (see the README in that folder).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import (
    Connection,
    Engine,
    create_engine,
    event,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    OperationalError,
    ProgrammingError,
)
from sqlalchemy.orm import Session, sessionmaker

from facesift.errors import WorkspaceError
from facesift.store import migrations
from facesift.store.schema import SCHEMA_VERSION, Setting


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path}"


T = TypeVar("T")

# How long a writer waits for another's lock on a SQLite file before it gives up (seconds).
SQLITE_BUSY_SECONDS = 60.0
# The PostgreSQL advisory lock held while a process creates or upgrades the schema.
SCHEMA_LOCK = 7212604215


def make_engine(url: str) -> Engine:
    """A SQLAlchemy engine for `url`, with facesift's SQLite settings; the schema untouched."""
    sqlite = url.startswith("sqlite")
    try:
        engine = create_engine(
            url, future=True, connect_args={"timeout": SQLITE_BUSY_SECONDS} if sqlite else {}
        )
    except (ArgumentError, ImportError) as exc:
        raise WorkspaceError(f"cannot use the database URL {url!r}: {exc}") from None
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def open_engine(url: str) -> Engine:
    """A SQLAlchemy engine with the schema created or upgraded, and its version checked.

    Safe when several processes open a new or older store at once: one migrates it while the
    others wait for its lock, then find it done. A store made by a newer facesift is refused.
    """
    engine = make_engine(url)
    shown = engine.url.render_as_string(hide_password=True)
    for attempt in range(8):
        try:
            _prepare_schema(engine, shown)
            return engine
        except DBAPIError as exc:
            if attempt == 7 or not _is_creation_race(exc):
                engine.dispose()
                raise WorkspaceError(f"cannot open the database {shown}: {exc.orig}") from None
            time.sleep(0.1 * (attempt + 1) * (1 + random.random()))
        except WorkspaceError:
            engine.dispose()
            raise
    return engine


def _is_creation_race(exc: DBAPIError) -> bool:
    """Another process creating the same new store at the same moment."""
    if isinstance(exc, IntegrityError | ProgrammingError):
        return True
    message = str(exc.orig).lower()
    return isinstance(exc, OperationalError) and (
        "already exists" in message or "locked" in message
    )


def _prepare_schema(engine: Engine, shown: str) -> None:
    """Bring the store to this code's schema; only a version check when it is there already."""
    with engine.connect() as connection:
        revisions, label = _versions(connection)
    if revisions == (migrations.HEAD,) and label == SCHEMA_VERSION:
        return
    _refuse_newer(revisions, label, shown)  # before taking the lock: a refusal changes nothing
    with migration_connection(engine) as connection:
        revisions, label = _versions(connection)  # again: another process may have just done it
        if revisions == (migrations.HEAD,) and label == SCHEMA_VERSION:
            return
        _refuse_newer(revisions, label, shown)
        # A label that disagrees means code before the migrations made or changed the store:
        # its tables say where it stands.
        migrations.upgrade(connection, check_tables=label != SCHEMA_VERSION)
        _write_schema_label(connection)


def _versions(connection: Connection) -> tuple[tuple[str, ...], int | None]:
    """The store's Alembic revisions (none for a new store or one made before migrations)
    and its `schema_version` label (None when it has none)."""
    inspector = inspect(connection)
    revisions: tuple[str, ...] = ()
    if inspector.has_table("alembic_version"):
        rows = connection.execute(text("SELECT version_num FROM alembic_version"))
        revisions = tuple(sorted(rows.scalars()))
    label = None
    if inspector.has_table("settings"):
        value = connection.scalar(select(Setting.value).where(Setting.key == "schema_version"))
        if value is not None:
            with suppress(ValueError):  # a damaged label counts as none
                label = int(value)
    return revisions, label


def _refuse_newer(revisions: tuple[str, ...], label: int | None, shown: str) -> None:
    """A store made by a newer facesift: its revision is unknown here, or (made before
    migrations) its label is higher than this code's."""
    unknown = [r for r in revisions if not migrations.is_known(r)]
    if unknown:
        raise WorkspaceError(
            f"the database {shown} is at schema revision {', '.join(unknown)}, made by a newer "
            f"facesift than this one (newest revision known: {migrations.HEAD}); upgrade facesift"
        )
    if label is not None and label > SCHEMA_VERSION:
        raise WorkspaceError(
            f"the database {shown} has schema version {label}, newer than this facesift "
            f"({SCHEMA_VERSION}); upgrade facesift"
        )


def _write_schema_label(connection: Connection) -> None:
    """Keep `settings.schema_version` for readers that look at it (releases before the
    migrations refuse a store labelled newer than they are)."""
    value = str(SCHEMA_VERSION)
    key = Setting.key == "schema_version"
    if connection.scalar(select(Setting.value).where(key)) is None:
        connection.execute(insert(Setting).values(key="schema_version", value=value))
    else:
        connection.execute(update(Setting).where(key).values(value=value))


@contextmanager
def migration_connection(engine: Engine) -> Iterator[Connection]:
    """A connection holding the store's schema lock for one transaction, committed when the
    block ends without an error (rolled back otherwise).

    PostgreSQL: a transaction-scoped advisory lock, waited for. SQLite: the file's write lock
    (`BEGIN IMMEDIATE`, waited for up to SQLITE_BUSY_SECONDS), with foreign keys off: SQLite
    changes a table by copying it and dropping the old one, and with them on that drop would
    cascade to (delete, or unlink) the rows that reference it. They are checked before commit:
    no reference may be left broken that was not broken before.
    """
    with engine.connect() as connection:
        if engine.dialect.name != "sqlite":
            with connection.begin():
                if engine.dialect.name == "postgresql":
                    connection.execute(
                        text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK}
                    )
                yield connection
            return
        connection.exec_driver_sql("PRAGMA foreign_keys=OFF")  # no effect inside a transaction
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            broken = _broken_references(connection)
            yield connection
            newly = _broken_references(connection) - broken
            if newly:
                raise WorkspaceError(
                    f"changing the schema of {engine.url!r} would break {len(newly)} "
                    "reference(s) between its rows; nothing was changed"
                )
            connection.commit()
        finally:
            connection.rollback()
            connection.exec_driver_sql("PRAGMA foreign_keys=ON")


def _broken_references(connection: Connection) -> set[tuple[Any, ...]]:
    """SQLite's list of rows whose foreign key points at no row: (table, rowid, parent, key)."""
    return {tuple(row) for row in connection.exec_driver_sql("PRAGMA foreign_key_check")}


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
