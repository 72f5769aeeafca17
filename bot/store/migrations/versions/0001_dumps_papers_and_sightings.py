"""dumps, papers and sightings

Revision ID: 0001
Revises:
Create Date: 2026-11-21
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dumps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("layout", sa.String(length=32), nullable=False),
        sa.Column("dump_date", sa.Date(), nullable=False),
        sa.Column("dump_date_in_file", sa.Boolean(), nullable=False),
        sa.Column("ingested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("new", sa.Integer(), nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dumps")),
        sa.UniqueConstraint("content_hash", name=op.f("uq_dumps_content_hash")),
    )
    op.create_table(
        "papers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.Text(), nullable=False),
        sa.Column("arxiv_id", sa.String(length=32), nullable=True),
        sa.Column("title_key", sa.Text(), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("abstract", sa.Text(), nullable=True),
        sa.Column("authors", sa.JSON(), nullable=True),
        sa.Column("author_count", sa.Integer(), nullable=True),
        sa.Column("organization", sa.Text(), nullable=True),
        sa.Column("published", sa.Date(), nullable=True),
        sa.Column("upvotes", sa.Integer(), nullable=True),
        sa.Column("first_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_dump_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["first_dump_id"], ["dumps.id"], name=op.f("fk_papers_first_dump_id_dumps")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_papers")),
        sa.UniqueConstraint("arxiv_id", name=op.f("uq_papers_arxiv_id")),
        sa.UniqueConstraint("key", name=op.f("uq_papers_key")),
    )
    op.create_index(op.f("ix_papers_first_seen_at"), "papers", ["first_seen_at"])
    op.create_table(
        "sightings",
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("dump_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("upvotes", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["dump_id"], ["dumps.id"], name=op.f("fk_sightings_dump_id_dumps"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name=op.f("fk_sightings_paper_id_papers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("paper_id", "dump_id", name=op.f("pk_sightings")),
    )
    op.create_index("ix_sightings_dump_id", "sightings", ["dump_id"])


def downgrade() -> None:
    op.drop_index("ix_sightings_dump_id", table_name="sightings")
    op.drop_table("sightings")
    op.drop_index(op.f("ix_papers_first_seen_at"), table_name="papers")
    op.drop_table("papers")
    op.drop_table("dumps")
