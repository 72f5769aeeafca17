"""verdicts: the papers a reader asked more or less of, or brought from their library;
subscribers.profile: what the ranking learnt from them

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verdicts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("subscriber_id", sa.Integer(), sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("paper_key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("sign", sa.SmallInteger(), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.UniqueConstraint("subscriber_id", "paper_key"),
    )
    op.create_index("ix_verdicts_subscriber_id_created_at", "verdicts", ["subscriber_id", "created_at"])
    with op.batch_alter_table("subscribers") as batch:
        batch.add_column(sa.Column("profile", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch:
        batch.drop_column("profile")
    op.drop_index("ix_verdicts_subscriber_id_created_at", "verdicts")
    op.drop_table("verdicts")
