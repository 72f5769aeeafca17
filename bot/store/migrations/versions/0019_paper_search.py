"""paper_search: the full-text index over every paper (SQLite FTS5, or a tsvector with a GIN
index on PostgreSQL), filled after ingest by bot.store.search.catch_up, not inside it

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        op.execute("CREATE VIRTUAL TABLE paper_search USING fts5(title, people, tldr, abstract, "
                   "tokenize = 'porter unicode61 remove_diacritics 2')")
    else:
        op.create_table(
            "paper_search",
            sa.Column("paper_id", sa.Integer(), sa.ForeignKey("papers.id", ondelete="CASCADE"), primary_key=True),
            sa.Column("document", postgresql.TSVECTOR(), nullable=False),
        )
        op.create_index("ix_paper_search_document", "paper_search", ["document"], postgresql_using="gin")


def downgrade() -> None:
    op.execute("DROP TABLE paper_search")
