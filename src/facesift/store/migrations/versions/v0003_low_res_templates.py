"""Low-resolution templates of enrolled faces (the schema still labelled version 2).

Small probe faces are matched against these templates rather than the sharp ones.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_column

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_column("faces", "low_res_embedding"):
        op.add_column("faces", sa.Column("low_res_embedding", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faces") as faces:
        faces.drop_column("low_res_embedding")
