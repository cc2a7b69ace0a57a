"""Unknown-person clusters: the clusters, each face's cluster, and every change to them.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from facesift.store.migrations import has_table

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if not has_table("clusters"):
        op.create_table(
            "clusters",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("scope", sa.Integer(), nullable=False),
            sa.Column("state", sa.String(16), nullable=False),
            sa.Column("locked", sa.Boolean(), nullable=False),
            sa.Column(
                "person_id",
                sa.Integer(),
                sa.ForeignKey("people.id", ondelete="SET NULL"),
                nullable=True,
            ),
            sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        )
        op.create_index("ix_clusters_scope", "clusters", ["scope"])
    if not has_table("cluster_faces"):
        op.create_table(
            "cluster_faces",
            sa.Column("scope", sa.Integer(), primary_key=True),
            sa.Column(
                "face_id",
                sa.Integer(),
                sa.ForeignKey("faces.id", ondelete="CASCADE"),
                primary_key=True,
            ),
            sa.Column(
                "cluster_id",
                sa.Integer(),
                sa.ForeignKey("clusters.id", ondelete="CASCADE"),
                nullable=False,
            ),
        )
        op.create_index("ix_cluster_faces_cluster", "cluster_faces", ["cluster_id"])
    if not has_table("cluster_operations"):
        op.create_table(
            "cluster_operations",
            sa.Column("id", sa.Integer(), primary_key=True),
            sa.Column("scope", sa.Integer(), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("actor", sa.String(255), nullable=False),
            sa.Column("action", sa.String(32), nullable=False),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("details", sa.JSON(), nullable=False),
            sa.Column("before", sa.JSON(), nullable=False),
            sa.Column("after", sa.JSON(), nullable=False),
            sa.Column("undone_by", sa.Integer(), nullable=True),
        )
        op.create_index("ix_cluster_operations_scope", "cluster_operations", ["scope"])


def downgrade() -> None:
    op.drop_table("cluster_operations")
    op.drop_table("cluster_faces")
    op.drop_table("clusters")
