"""Accounts and API tokens, the hash-chained audit log, review decisions and their checks,
background jobs, the names files were uploaded under.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_table

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def _at(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    if not has_table("users"):
        op.create_table(
            "users",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("name", sa.String(255), nullable=False, unique=True),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("password_hash", sa.Text(), nullable=False),
            sa.Column("disabled", sa.Boolean(), nullable=False),
            _at("created_at"),
        )
    if not has_table("api_tokens"):
        op.create_table(
            "api_tokens",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(
                "user_id",
                sa.Integer(),
                sa.ForeignKey("users.id", ondelete="CASCADE"),
                nullable=False,
            ),
            sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
            _at("created_at"),
            _at("expires_at"),
            _at("revoked_at", nullable=True),
        )
        op.create_index("ix_api_tokens_user", "api_tokens", ["user_id"])
    if not has_table("audit_log"):
        op.create_table(
            "audit_log",
            sa.Column("seq", sa.BigInteger(), primary_key=True, autoincrement=False),
            sa.Column("at", sa.String(40), nullable=False),
            sa.Column("actor", sa.String(255), nullable=False),
            sa.Column("action", sa.String(64), nullable=False),
            sa.Column("objects", sa.Text(), nullable=False),
            sa.Column("inputs", sa.Text(), nullable=False),
            sa.Column("details", sa.Text(), nullable=False),
            sa.Column("prev_hash", sa.String(64), nullable=False),
            sa.Column("entry_hash", sa.String(64), nullable=False),
        )
        op.create_index("ix_audit_log_actor", "audit_log", ["actor"])
        op.create_index("ix_audit_log_action", "audit_log", ["action"])
    if not has_table("review_decisions"):
        op.create_table(
            "review_decisions",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("face_id", sa.Integer(), sa.ForeignKey("faces.id"), nullable=True),
            sa.Column("track_id", sa.Integer(), sa.ForeignKey("tracks.id"), nullable=True),
            sa.Column(
                "person_id",
                sa.Integer(),
                sa.ForeignKey("people.id", ondelete="SET NULL"),
                nullable=True,
            ),
            sa.Column("person", sa.String(255), nullable=False),
            sa.Column("verdict", sa.String(16), nullable=False),
            sa.Column("note", sa.Text(), nullable=True),
            sa.Column("reviewer", sa.String(255), nullable=False),
            _at("at"),
            sa.Column("shown", sa.JSON(), nullable=False),
        )
        op.create_index("ix_review_decisions_face", "review_decisions", ["face_id"])
        op.create_index("ix_review_decisions_track", "review_decisions", ["track_id"])
    if not has_table("review_checks"):
        op.create_table(
            "review_checks",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column(
                "decision_id", sa.Integer(), sa.ForeignKey("review_decisions.id"), nullable=False
            ),
            sa.Column("outcome", sa.String(16), nullable=False),
            sa.Column("note", sa.Text(), nullable=True),
            sa.Column("reviewer", sa.String(255), nullable=False),
            _at("at"),
        )
        op.create_index("ix_review_checks_decision", "review_checks", ["decision_id"])
    if not has_table("jobs"):
        op.create_table(
            "jobs",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("kind", sa.String(32), nullable=False),
            sa.Column("actor", sa.String(255), nullable=False),
            sa.Column("status", sa.String(16), nullable=False),
            sa.Column("params", sa.JSON(), nullable=False),
            sa.Column("done", sa.Integer(), nullable=False),
            sa.Column("total", sa.Integer(), nullable=False),
            sa.Column("result", sa.JSON(), nullable=True),
            sa.Column("error", sa.Text(), nullable=True),
            _at("created_at"),
            _at("finished_at", nullable=True),
        )
    if not has_table("upload_names"):
        op.create_table(
            "upload_names",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("sha256", sa.String(64), nullable=False),
            sa.Column("name", sa.Text(), nullable=False),
            sa.Column("actor", sa.String(255), nullable=False),
            _at("at"),
        )
        op.create_index("ix_upload_names_sha256", "upload_names", ["sha256"])


def downgrade() -> None:
    for table in (
        "upload_names",
        "jobs",
        "review_checks",
        "review_decisions",
        "audit_log",
        "api_tokens",
        "users",
    ):
        op.drop_table(table)
