"""editions and edition items

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "editions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("date", sa.Date(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("cutoff_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("papers", sa.Integer(), nullable=False),
        sa.Column("climbing", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_editions")),
        sa.UniqueConstraint("date", name=op.f("uq_editions_date")),
    )
    op.create_table(
        "edition_items",
        sa.Column("edition_id", sa.Integer(), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("section", sa.String(length=16), nullable=False),
        sa.Column("topic_slug", sa.String(length=80), nullable=True),
        sa.Column("topic_label", sa.Text(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("upvotes", sa.Integer(), nullable=True),
        sa.Column("rise", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["edition_id"], ["editions.id"], name=op.f("fk_edition_items_edition_id_editions"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name=op.f("fk_edition_items_paper_id_papers"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("edition_id", "paper_id", name=op.f("pk_edition_items")),
    )
    op.create_index("uq_edition_items_new_paper", "edition_items", ["paper_id"], unique=True,
                    sqlite_where=sa.text("section = 'new'"), postgresql_where=sa.text("section = 'new'"))


def downgrade() -> None:
    op.drop_index("uq_edition_items_new_paper", table_name="edition_items")
    op.drop_table("edition_items")
    op.drop_table("editions")
