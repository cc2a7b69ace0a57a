"""Schema version 1: people, cases, media and their faces (photos only).

Revision ID: 0001
Revises:
Create Date: 2026-11-27 (the store as first released)
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_table

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Each table only when missing: a store made before these migrations may have been left
    # with some of them by a first open that stopped halfway.
    if not has_table("settings"):
        op.create_table(
            "settings",
            sa.Column("key", sa.String(64), primary_key=True),
            sa.Column("value", sa.Text(), nullable=False),
        )
    if not has_table("people"):
        op.create_table(
            "people",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False, unique=True),
            sa.Column("attributes", sa.JSON(), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
    if not has_table("cases"):
        op.create_table(
            "cases",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False, unique=True),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
    if not has_table("media"):
        op.create_table(
            "media",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False, unique=True),
            sa.Column("path", sa.Text(), nullable=False),
            sa.Column("size", sa.BigInteger(), nullable=False),
            sa.Column("kind", sa.String(16), nullable=False),
            sa.Column("format", sa.String(32), nullable=True),
            sa.Column("width", sa.Integer(), nullable=True),
            sa.Column("height", sa.Integer(), nullable=True),
            sa.Column("exif", sa.JSON(), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("error", sa.Text(), nullable=True),
            sa.Column("analysis", sa.JSON(), nullable=False),
            sa.Column("scanned_at", sa.DateTime(timezone=True), nullable=False),
        )
    if not has_table("case_media"):
        op.create_table(
            "case_media",
            sa.Column(
                "case_id",
                sa.Integer(),
                sa.ForeignKey("cases.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(
                "media_id",
                sa.Integer(),
                sa.ForeignKey("media.id", ondelete="CASCADE"),
                primary_key=True,
            ),
        )
    if not has_table("faces"):
        op.create_table(
            "faces",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(
                "media_id",
                sa.Integer(),
                sa.ForeignKey("media.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column(
                "person_id",
                sa.Integer(),
                sa.ForeignKey("people.id", ondelete="SET NULL"),
                nullable=True,
            ),
            sa.Column("frame_index", sa.Integer(), nullable=False),
            sa.Column("timestamp", sa.Float(), nullable=True),
            sa.Column("x1", sa.Float(), nullable=False),
            sa.Column("y1", sa.Float(), nullable=False),
            sa.Column("x2", sa.Float(), nullable=False),
            sa.Column("y2", sa.Float(), nullable=False),
            sa.Column("landmarks", sa.JSON(), nullable=False),
            sa.Column("det_score", sa.Float(), nullable=False),
            sa.Column("detector", sa.String(64), nullable=False),
            sa.Column("face_px", sa.Float(), nullable=False),
            sa.Column("sharpness", sa.Float(), nullable=False),
            sa.Column("quality", sa.Float(), nullable=False),
            sa.Column("embedding", sa.LargeBinary(), nullable=False),
            sa.Column("model_name", sa.String(128), nullable=False),
            sa.Column("model_sha256", sa.String(64), nullable=False),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
            sa.UniqueConstraint(
                "media_id", "frame_index", "x1", "y1", "x2", "y2", name="uq_face_box"
            ),
        )
        op.create_index("ix_faces_person", "faces", ["person_id"])
        op.create_index("ix_faces_media", "faces", ["media_id"])


def downgrade() -> None:
    for table in ("faces", "case_media", "media", "cases", "people", "settings"):
        op.drop_table(table)
