"""Schema version 3: link targets of media, the record of gallery corrections.

`media.link_target` is where a symbolic link met by a scan points; `gallery_changes` records
who removed a person or unenrolled a face, when and why.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_column, has_table

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_column("media", "link_target"):
        op.add_column("media", sa.Column("link_target", sa.Text(), nullable=True))
    if not has_table("gallery_changes"):
        op.create_table(
            "gallery_changes",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(255), nullable=False),
            sa.Column("action", sa.String(32), nullable=False),
            sa.Column("person", sa.String(255), nullable=False),
            sa.Column("face_ids", sa.JSON(), nullable=False),
            sa.Column("note", sa.Text(), nullable=True),
        )


def downgrade() -> None:
    op.drop_table("gallery_changes")
    with op.batch_alter_table("media") as media:
        media.drop_column("link_target")
