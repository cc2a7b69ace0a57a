"""Alembic's command line on facesift's migrations, without an alembic.ini, e.g.

    python -m facesift.store.migrations history
    python -m facesift.store.migrations revision --rev-id 0005 -m "what changes"
    python -m facesift.store.migrations -x url=sqlite:///ws/facesift.db revision \\
        --autogenerate --rev-id 0005 -m "what changes"
    python -m facesift.store.migrations -x url=sqlite:///ws/facesift.db current
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic.config import CommandLine

from facesift.store.migrations import config


def main(argv: Sequence[str] | None = None) -> None:
    cli = CommandLine(prog="python -m facesift.store.migrations")
    options = cli.parser.parse_args(argv)
    if not hasattr(options, "cmd"):
        cli.parser.error("too few arguments")
    cfg = config()
    cfg.cmd_opts = options
    cli.run_cmd(cfg, options)


if __name__ == "__main__":
    main()
