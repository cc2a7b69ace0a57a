"""The store's schema history as Alembic migrations, run by `store.database.open_engine`.

`HEAD` names the newest revision so that opening a store already at it needs no more than a
look at its `alembic_version` table (Alembic itself is imported only to change a schema); a
test checks it against the scripts. See README in this folder for how to add a migration.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Connection, inspect

if TYPE_CHECKING:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

log = logging.getLogger(__name__)

LOCATION = Path(__file__).resolve().parent
HEAD = "0007"

# What each revision added, as a store made before these migrations shows it: the tables and
# columns that must all be there for the store to be at that revision. In order.
LEGACY_REVISIONS: tuple[tuple[str, Mapping[str, tuple[str, ...]]], ...] = (
    ("0001", {t: () for t in ("settings", "people", "cases", "media", "case_media", "faces")}),
    ("0002", {"tracks": (), "faces": ("track_id", "crop")}),
    ("0003", {"faces": ("low_res_embedding",)}),
    ("0004", {"gallery_changes": (), "media": ("link_target",)}),
    ("0005", {t: () for t in ("clusters", "cluster_faces", "cluster_operations")}),
    (
        "0006",
        {
            t: ()
            for t in (
                "users",
                "api_tokens",
                "audit_log",
                "review_decisions",
                "jobs",
                "upload_names",
            )
        },
    ),
    ("0007", {"media_sources": ()}),
)


def config(connection: Connection | None = None) -> Config:
    """Alembic's configuration for these scripts, no alembic.ini needed; with `connection`,
    migrations run on it, inside the transaction its caller holds."""
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(LOCATION))
    cfg.set_main_option("file_template", "v%%(rev)s_%%(slug)s")
    if connection is not None:
        cfg.attributes["connection"] = connection
    return cfg


@cache
def scripts() -> ScriptDirectory:
    """The revision scripts (read once per process)."""
    from alembic.script import ScriptDirectory

    return ScriptDirectory.from_config(config())


def is_known(revision: str) -> bool:
    """Whether `revision` is one of these scripts' (not one from a newer facesift)."""
    return revision in {script.revision for script in scripts().walk_revisions()}


def legacy_revision(connection: Connection) -> str | None:
    """The revision a store made before these migrations matches, judged by its tables and
    columns (its `schema_version` label is not enough: stores labelled 2 exist with and
    without low-resolution templates); None when it has not even the first one's tables."""
    inspector = inspect(connection)
    tables = set(inspector.get_table_names())
    found = None
    for revision, needs in LEGACY_REVISIONS:
        for table, columns in needs.items():
            if table not in tables:
                return found
            if columns and not set(columns) <= {c["name"] for c in inspector.get_columns(table)}:
                return found
        found = revision
    return found


def upgrade(connection: Connection, *, check_tables: bool = False) -> None:
    """Bring the store on `connection` to `HEAD`. A store made before these migrations is
    first stamped with the revision its tables match; with `check_tables` (its
    `schema_version` label disagrees with this code: something other than these migrations
    changed it), so is one whose tables lack what its recorded revision says it has. The
    caller holds the schema lock and the transaction (`store.database.migration_connection`).
    """
    from alembic import command
    from alembic.runtime.migration import MigrationContext

    context = MigrationContext.configure(connection)
    heads = context.get_current_heads()
    if not heads or check_tables:
        chain = [revision for revision, _ in LEGACY_REVISIONS]
        found = legacy_revision(connection)
        if not heads:
            if found is not None:
                log.info("a store made before migrations, its tables at revision %s", found)
                context.stamp(scripts(), found)
        elif len(heads) == 1:
            expected = heads[0] if heads[0] in chain else chain[-1]
            if found is None or chain.index(found) < chain.index(expected):
                log.warning(
                    "the store's tables are at revision %s, not %s as recorded: upgrading "
                    "from there",
                    found or "base",
                    heads[0],
                )
                context.stamp(scripts(), found or "base")
    command.upgrade(config(connection), "head")


def has_table(name: str) -> bool:
    """For the early revisions: whether the store already has `name` (an upgrade made
    before these migrations may have stopped halfway, after creating it)."""
    from alembic import op

    return inspect(op.get_bind()).has_table(name)


def has_column(table: str, name: str) -> bool:
    """For the early revisions: whether `table` already has the column `name`."""
    from alembic import op

    return name in {c["name"] for c in inspect(op.get_bind()).get_columns(table)}
