"""sources: paper categories and each source's conditional-GET state

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        batch.add_column(sa.Column("categories", sa.JSON(none_as_null=True), nullable=True))
    op.create_table(
        "source_state",
        sa.Column("name", sa.String(length=80), nullable=False),
        sa.Column("etag", sa.Text(), nullable=True),
        sa.Column("last_modified", sa.Text(), nullable=True),
        sa.Column("checked_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ok_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_source_state")),
    )


def downgrade() -> None:
    op.drop_table("source_state")
    with op.batch_alter_table("papers") as batch:
        batch.drop_column("categories")
