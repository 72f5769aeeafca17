"""subscribers.cadence and weekday: a reader's daily, weekday, weekly or monthly digest;
deliveries.since: the first date a weekly or monthly copy gathers

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("cadence", sa.String(16), nullable=True))
        batch.add_column(sa.Column("weekday", sa.Integer(), nullable=True))
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("since", sa.Date(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("since")
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("weekday")
        batch.drop_column("cadence")
