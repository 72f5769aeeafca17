"""subscribers.people and mute_people: authors and organisations a reader follows or never wants

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("people", sa.JSON(), nullable=True))
        batch.add_column(sa.Column("mute_people", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("mute_people")
        batch.drop_column("people")
