"""Where stored files came from: Telegram posts and web-archive captures.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_table

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def _text(name: str) -> sa.Column:
    return sa.Column(name, sa.Text(), nullable=True)


def _time(name: str) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=True)


def upgrade() -> None:
    if has_table("media_sources"):
        return
    op.create_table(
        "media_sources",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column(
            "media_id",
            sa.Integer(),
            sa.ForeignKey("media.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("key", sa.String(512), nullable=False),
        _text("url"),
        _text("page_url"),
        _text("channel"),
        sa.Column("channel_id", sa.String(64), nullable=True),
        sa.Column("channel_type", sa.String(32), nullable=True),
        sa.Column("post_id", sa.String(64), nullable=True),
        _time("posted_at"),
        _time("edited_at"),
        _time("captured_at"),
        _text("author"),
        sa.Column("author_id", sa.String(64), nullable=True),
        _text("forwarded_from"),
        _text("text"),
        _text("archive"),
        sa.Column("archive_sha256", sa.String(64), nullable=True),
        _text("member"),
        sa.Column("record_id", sa.String(128), nullable=True),
        sa.Column("signed", sa.Boolean(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("media_id", "key", name="uq_media_source_key"),
    )
    op.create_index("ix_media_sources_posted", "media_sources", ["posted_at"])


def downgrade() -> None:
    op.drop_table("media_sources")
