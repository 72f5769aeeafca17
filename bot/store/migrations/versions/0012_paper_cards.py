"""What a paper card shows beyond the title and abstract: the Daily Papers API's code link and
stars, project page, comment count, submitter, summary, keywords and thumbnail; arXiv's announce
type; and the TL;DR once made (with where it came from)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

COLUMNS = (
    ("announce", sa.String(16)), ("github_repo", sa.Text()), ("github_stars", sa.Integer()),
    ("project_page", sa.Text()), ("comments", sa.Integer()), ("submitted_by", sa.Text()),
    ("ai_summary", sa.Text()), ("ai_keywords", sa.JSON(none_as_null=True)), ("thumbnail", sa.Text()),
    ("tldr", sa.Text()), ("tldr_source", sa.String(16)),
)


def upgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        for name, kind in COLUMNS:
            batch.add_column(sa.Column(name, kind, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("papers") as batch:
        for name, _ in reversed(COLUMNS):
            batch.drop_column(name)
