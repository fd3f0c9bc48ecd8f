"""posts: an index on (source_id, id), and each post's packed fingerprint

Every poll reads each changed source's latest posts (to learn its theme's furniture); without
an index on the source that was a scan of every stored post, once per source, so a poll's
cost grew with the square of the posts a first poll stored. And every poll with a new post
fingerprinted every post of the 72-hour window again from its text: `shingles` keeps each
post's fingerprint (about 1.3 KB), read back instead (posts stored before have none and are
fingerprinted from their text, as before).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 07:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_posts_source", "posts", ["source_id", "id"])
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("shingles", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("posts", schema=None) as batch_op:
        batch_op.drop_column("shingles")
    op.drop_index("ix_posts_source", table_name="posts")
