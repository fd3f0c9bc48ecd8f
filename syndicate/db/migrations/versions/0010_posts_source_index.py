"""posts: an index on (source_id, id), for a source's latest posts

Every poll reads each changed source's latest posts (to learn its theme's furniture); without
an index on the source that was a scan of every stored post, once per source, so a poll's
cost grew with the square of the posts a first poll stored.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:50:00.000000
"""

from __future__ import annotations

from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_posts_source", "posts", ["source_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_posts_source", table_name="posts")
