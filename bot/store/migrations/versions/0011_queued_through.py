"""editions.queued_through and an index on subscribers.updated_at: re-queuing an edition looks
only at the subscribers changed since it was last queued, not at the whole list

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("editions") as batch:
        batch.add_column(sa.Column("queued_through", sa.DateTime(timezone=True), nullable=True))
    op.create_index("ix_subscribers_updated_at", "subscribers", ["updated_at"])


def downgrade() -> None:
    op.drop_index("ix_subscribers_updated_at", table_name="subscribers")
    with op.batch_alter_table("editions") as batch:
        batch.drop_column("queued_through")
