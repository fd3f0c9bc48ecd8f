"""editors' session generations, confirmation mails sent, clicks per client and day

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "editors",
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("session_generation", sa.Integer(), nullable=False),
        sa.Column("sessions_ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_editors")),
    )
    op.create_table(
        "confirmation_mails",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("mailbox", sa.String(length=64), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_confirmation_mails")),
    )
    with op.batch_alter_table("confirmation_mails", schema=None) as batch_op:
        batch_op.create_index(
            "ix_confirmation_mails_mailbox_sent", ["mailbox", "sent_at"], unique=False
        )
        batch_op.create_index("ix_confirmation_mails_sent", ["sent_at"], unique=False)
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("client", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("day", sa.Date(), nullable=True))
        batch_op.create_index(
            "ux_clicks_post_client_day", ["post_id", "client", "day"], unique=True
        )


def downgrade() -> None:
    with op.batch_alter_table("clicks", schema=None) as batch_op:
        batch_op.drop_index("ux_clicks_post_client_day")
        batch_op.drop_column("day")
        batch_op.drop_column("client")
    with op.batch_alter_table("confirmation_mails", schema=None) as batch_op:
        batch_op.drop_index("ix_confirmation_mails_sent")
        batch_op.drop_index("ix_confirmation_mails_mailbox_sent")
    op.drop_table("confirmation_mails")
    op.drop_table("editors")
