"""paper_search_titles: on PostgreSQL, a GIN index of the papers' titles as text search vectors,
so that search can put the papers with every word in the title first without reading every
match (SQLite's FTS5 filters its own title column)

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-03
"""

from alembic import op

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX paper_search_titles ON papers USING gin (to_tsvector('english'::regconfig, title))")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX paper_search_titles")
