"""papers: bounded keys (a long title keyed by its start and a hash), short titles keyed with
their abstract's hash, and an index on title_key for the cross-source title lookup

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from bot.identity import is_short, paper_key, title_key

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    papers = sa.table("papers", sa.column("id", sa.Integer), sa.column("key", sa.Text),
                      sa.column("title_key", sa.Text), sa.column("title", sa.Text), sa.column("abstract", sa.Text),
                      sa.column("arxiv_id", sa.String))
    bind = op.get_bind()
    rows = bind.execute(sa.select(papers.c.id, papers.c.key, papers.c.title_key, papers.c.title, papers.c.abstract,
                                  papers.c.arxiv_id)).all()
    for paper_id, key, folded, title, abstract, arxiv_id in rows:
        new_folded = title_key(title)
        new_key = paper_key(title, None, abstract or "") if key.startswith("title:") else key
        if (new_key, new_folded) != (key, folded) and (len(folded) > len(new_folded) or is_short(new_folded)):
            bind.execute(sa.update(papers).where(papers.c.id == paper_id).values(key=new_key, title_key=new_folded))
    op.create_index(op.f("ix_papers_title_key"), "papers", ["title_key"])


def downgrade() -> None:
    op.drop_index(op.f("ix_papers_title_key"), table_name="papers")
