"""Credentials encrypted at rest (targets, signing secrets) and escalation's contact-lookup failures.

Existing rows are encrypted with the first of NOTIFIER_SECRET_KEYS (the development key when unset);
a value that one of the keys already decrypts is left as it is, so running this again changes nothing.

Revision ID: 0003
Revises: 0002
"""

import json

import sqlalchemy as sa
from alembic import op

from slm_notifier.crypto import SecretUnreadable, active_keyring

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

ENCRYPTED = ("target", "secret", "previous_secret")


def _plain_subscriptions() -> sa.Table:
    return sa.table("subscriptions", sa.column("id", sa.String), *(sa.column(c, sa.Text) for c in ENCRYPTED))


def _rewrite(convert) -> None:  # type: ignore[no-untyped-def]
    table = _plain_subscriptions()
    connection = op.get_bind()
    rows = connection.execute(sa.select(table.c.id, *(table.c[c] for c in ENCRYPTED))).all()
    for row in rows:
        values = {c: convert(c, getattr(row, c)) for c in ENCRYPTED if getattr(row, c) is not None}
        if values:
            connection.execute(sa.update(table).where(table.c.id == row.id).values(**values))


def _encrypt(column: str, value: str) -> str:
    keyring = active_keyring()
    try:
        keyring.decrypt(value)
        return value  # already encrypted
    except SecretUnreadable:
        pass
    if column == "target":
        value = json.dumps(json.loads(value), separators=(",", ":"))
    return keyring.encrypt(value)


def _decrypt(column: str, value: str) -> str:
    return active_keyring().decrypt(value)


def upgrade() -> None:
    with op.batch_alter_table("subscriptions") as batch:
        if op.get_bind().dialect.name == "postgresql":
            batch.alter_column("target", type_=sa.Text(), postgresql_using="target::text")
        else:
            batch.alter_column("target", type_=sa.Text())
        batch.alter_column("secret", type_=sa.Text())
        batch.alter_column("previous_secret", type_=sa.Text())
    _rewrite(_encrypt)
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("escalation_error", sa.Text(), nullable=True))
        batch.add_column(sa.Column("lookup_failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("lookup_failures")
        batch.drop_column("escalation_error")
    _rewrite(_decrypt)
    with op.batch_alter_table("subscriptions") as batch:
        if op.get_bind().dialect.name == "postgresql":
            batch.alter_column("target", type_=sa.JSON(), postgresql_using="target::json")
        else:
            batch.alter_column("target", type_=sa.JSON())
        batch.alter_column("secret", type_=sa.String(128))
        batch.alter_column("previous_secret", type_=sa.String(128))
