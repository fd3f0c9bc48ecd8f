"""subscription status per list, its history, suppressions, bounce log, message keys

One mailbox is one subscriber: addresses that differ only in case are merged into the
oldest row, each list keeping the most restrictive status any of them had there.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06 04:40:00.000000
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# From least to most restrictive; "pending" subscribers had not confirmed anything.
_ORDER = {"active": 0, "unconfirmed": 1, "pending": 1, "unsubscribed": 2, "bounced": 3}
_ORDER["complained"] = 4


def upgrade() -> None:
    _new_tables()
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("status", sa.String(length=20), nullable=True))
        batch_op.add_column(sa.Column("changed_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("changed_by", sa.String(length=40), nullable=True))
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("message_key", sa.String(length=32), nullable=True))
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.create_index("ix_deliveries_external_id", ["external_id"], unique=False)
    _carry_statuses()
    _merge_duplicates()
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.alter_column("status", existing_type=sa.String(length=20), nullable=False)
        batch_op.alter_column(
            "changed_at", existing_type=sa.DateTime(timezone=True), nullable=False
        )
        batch_op.alter_column("changed_by", existing_type=sa.String(length=40), nullable=False)
        batch_op.drop_index("ix_subscriptions_list")
        batch_op.create_index("ix_subscriptions_list", ["list_id", "status"], unique=False)
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.drop_column("status")
        batch_op.drop_column("hard_bounces")


def _new_tables() -> None:
    big_id = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
    op.create_table(
        "subscription_changes",
        sa.Column("id", big_id, nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("previous", sa.String(length=20), nullable=True),
        sa.Column("changed_by", sa.String(length=40), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_subscription_changes_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_subscription_changes_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_subscription_changes")),
    )
    with op.batch_alter_table("subscription_changes", schema=None) as batch_op:
        batch_op.create_index(
            "ix_subscription_changes_subscriber", ["subscriber_id", "at"], unique=False
        )
    op.create_table(
        "suppressions",
        sa.Column("address_hash", sa.String(length=64), nullable=False),
        sa.Column("reason", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("address_hash", name=op.f("pk_suppressions")),
    )
    op.create_table(
        "examined_mail",
        sa.Column("key", sa.String(length=400), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_examined_mail")),
    )
    op.create_table(
        "webhook_tokens",
        sa.Column("token", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("token", name=op.f("pk_webhook_tokens")),
    )
    op.create_table(
        "bounce_events",
        sa.Column("id", big_id, nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("delivery_id", big_id, nullable=True),
        sa.Column("edition_id", sa.Integer(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["deliveries.id"],
            name=op.f("fk_bounce_events_delivery_id_deliveries"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["edition_id"],
            ["editions.id"],
            name=op.f("fk_bounce_events_edition_id_editions"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["list_id"],
            ["lists.id"],
            name=op.f("fk_bounce_events_list_id_lists"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["subscriber_id"],
            ["subscribers.id"],
            name=op.f("fk_bounce_events_subscriber_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_bounce_events")),
    )
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.create_index("ix_bounce_events_at", ["at"], unique=False)
        batch_op.create_index("ix_bounce_events_edition", ["edition_id"], unique=False)
        batch_op.create_index(
            "ix_bounce_events_subscriber", ["subscriber_id", "kind", "at"], unique=False
        )


def _carry_statuses() -> None:
    """A subscriber's one status becomes the status of each of their lists."""
    bind = op.get_bind()
    now = datetime.now(UTC)
    bind.execute(
        sa.text(
            "UPDATE subscriptions SET status = (SELECT CASE s.status WHEN 'pending' "
            "THEN 'unconfirmed' ELSE s.status END FROM subscribers s "
            "WHERE s.id = subscriptions.subscriber_id), changed_by = 'migration', "
            "changed_at = (SELECT s.updated_at FROM subscribers s "
            "WHERE s.id = subscriptions.subscriber_id)"
        )
    )
    bind.execute(
        sa.text("UPDATE subscriptions SET changed_at = :now WHERE changed_at IS NULL"),
        {"now": now},
    )
    for (edition_id,) in bind.execute(sa.text("SELECT id FROM editions")).all():
        bind.execute(
            sa.text("UPDATE editions SET message_key = :key WHERE id = :id"),
            {"key": secrets.token_hex(8), "id": edition_id},
        )


def _merge_duplicates() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text("SELECT id, email_key FROM subscribers ORDER BY id")).all()
    groups: dict[str, list[int]] = {}
    for subscriber_id, key in rows:
        groups.setdefault(key.lower(), []).append(subscriber_id)
    for key, ids in groups.items():
        keep, *others = ids
        if others:
            _merge(bind, keep, others)
        bind.execute(
            sa.text("UPDATE subscribers SET email_key = :key WHERE id = :id"),
            {"key": key, "id": keep},
        )


def _merge(bind: sa.Connection, keep: int, others: list[int]) -> None:
    """Move the other rows' lists, history and deliveries onto `keep`, most restrictive first."""
    ids = [keep, *others]
    statuses: dict[int, tuple[str, object]] = {}
    for subscriber_id in ids:
        for list_id, status, changed_at in bind.execute(
            sa.text(
                "SELECT list_id, status, changed_at FROM subscriptions WHERE subscriber_id = :id"
            ),
            {"id": subscriber_id},
        ).all():
            held = statuses.get(list_id)
            if held is None or _ORDER.get(status, 0) > _ORDER.get(held[0], 0):
                statuses[list_id] = (status, changed_at)
    for other in others:
        for table in ("deliveries", "subscription_changes", "bounce_events"):
            bind.execute(
                sa.text(f"UPDATE {table} SET subscriber_id = :keep WHERE subscriber_id = :other"),
                {"keep": keep, "other": other},
            )
        bind.execute(sa.text("DELETE FROM subscriptions WHERE subscriber_id = :id"), {"id": other})
        bind.execute(sa.text("DELETE FROM subscribers WHERE id = :id"), {"id": other})
    bind.execute(sa.text("DELETE FROM subscriptions WHERE subscriber_id = :id"), {"id": keep})
    for list_id, (status, changed_at) in statuses.items():
        bind.execute(
            sa.text(
                "INSERT INTO subscriptions (subscriber_id, list_id, status, changed_at, "
                "changed_by, created_at) VALUES (:s, :l, :status, :at, 'migration', :at)"
            ),
            {"s": keep, "l": list_id, "status": status, "at": changed_at},
        )
        bind.execute(  # the merge is part of the address's history
            sa.text(
                "INSERT INTO subscription_changes (subscriber_id, list_id, at, status, "
                "previous, changed_by, detail) VALUES (:s, :l, :at, :status, NULL, "
                "'migration', :detail)"
            ),
            {
                "s": keep,
                "l": list_id,
                "at": datetime.now(UTC),
                "status": status,
                "detail": f"{len(ids)} spellings of one address merged",
            },
        )


def downgrade() -> None:
    with op.batch_alter_table("subscribers", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("status", sa.String(length=20), nullable=False, server_default="active")
        )
        batch_op.add_column(
            sa.Column("hard_bounces", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("subscriptions", schema=None) as batch_op:
        batch_op.drop_index("ix_subscriptions_list")
        batch_op.create_index("ix_subscriptions_list", ["list_id"], unique=False)
        batch_op.drop_column("changed_by")
        batch_op.drop_column("changed_at")
        batch_op.drop_column("status")
    with op.batch_alter_table("editions", schema=None) as batch_op:
        batch_op.drop_column("message_key")
    with op.batch_alter_table("deliveries", schema=None) as batch_op:
        batch_op.drop_index("ix_deliveries_external_id")
    with op.batch_alter_table("bounce_events", schema=None) as batch_op:
        batch_op.drop_index("ix_bounce_events_subscriber")
        batch_op.drop_index("ix_bounce_events_edition")
        batch_op.drop_index("ix_bounce_events_at")
    op.drop_table("bounce_events")
    op.drop_table("webhook_tokens")
    op.drop_table("examined_mail")
    op.drop_table("suppressions")
    with op.batch_alter_table("subscription_changes", schema=None) as batch_op:
        batch_op.drop_index("ix_subscription_changes_subscriber")
    op.drop_table("subscription_changes")
