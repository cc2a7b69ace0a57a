"""Alembic's environment for the store: runs the migrations on the connection that
`store.database` hands over (holding the schema lock, in its transaction), or, from the command
line (`python -m facesift.store.migrations -x url=URL ...`), on a connection of its own taken
the same way."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from facesift.store.database import make_engine, migration_connection
from facesift.store.schema import Base


def run_on(connection: Connection) -> None:
    # Batch mode: SQLite changes most of a table by copying it to a new one (the copy runs
    # with foreign keys off, see migration_connection, so no cascade fires on the old table).
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run() -> None:
    if context.is_offline_mode():
        raise SystemExit("facesift's migrations inspect the store: give -x url=URL, not --sql")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        run_on(connection)
        return
    url = context.get_x_argument(as_dictionary=True).get("url")
    if not url:
        raise SystemExit("say which store: -x url=sqlite:///path/to/facesift.db (or a URL)")
    engine = make_engine(url)
    try:
        with migration_connection(engine) as connection:
            run_on(connection)
    finally:
        engine.dispose()


run()
