"""Schema version 2: video tracks, each face's track, crops of a track's best shots.

A track is one person's continuous appearance in a video; a face's crop is the JPEG kept for
its track's best shots.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_column, has_table

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each change only when missing: the upgrade made before these migrations created the table
    # and the columns in separate steps, and may have stopped between them.
    if not has_table("tracks"):
        op.create_table(
            "tracks",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(
                "media_id",
                sa.Integer(),
                sa.ForeignKey("media.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("number", sa.Integer(), nullable=False),
            sa.Column("start", sa.Float(), nullable=False),
            sa.Column("end", sa.Float(), nullable=False),
            sa.Column("start_frame", sa.Integer(), nullable=False),
            sa.Column("end_frame", sa.Integer(), nullable=False),
            sa.Column("face_count", sa.Integer(), nullable=False),
            sa.Column(
                "best_face_id",
                sa.Integer(),
                sa.ForeignKey("faces.id", ondelete="SET NULL"),
                nullable=True,
            ),
            sa.Column("template", sa.LargeBinary(), nullable=False),
            sa.Column("model_name", sa.String(128), nullable=False),
            sa.Column("model_sha256", sa.String(64), nullable=False),
            sa.UniqueConstraint("media_id", "number", name="uq_track_number"),
        )
    missing = [name for name in ("track_id", "crop") if not has_column("faces", name)]
    if not missing:
        return
    # SQLite cannot add a reference to a table: the batch copies the faces to a table made
    # with it, which then takes the old one's place. Elsewhere the table is altered in place.
    with op.batch_alter_table("faces") as faces:
        if "track_id" in missing:
            faces.add_column(sa.Column("track_id", sa.Integer(), nullable=True))
            # The name PostgreSQL gives the reference of a new store (the batch needs one).
            faces.create_foreign_key(
                "faces_track_id_fkey", "tracks", ["track_id"], ["id"], ondelete="SET NULL"
            )
        if "crop" in missing:
            faces.add_column(sa.Column("crop", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("faces") as faces:
        faces.drop_column("crop")
        faces.drop_column("track_id")
    op.drop_table("tracks")
