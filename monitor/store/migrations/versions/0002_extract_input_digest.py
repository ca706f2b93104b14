"""source.extract_input_digest: the digest of the bytes extraction read (extraction fast path)

Revision ID: 0002
Revises: 0001
Create Date: 2025-06-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A database made by the pre-Alembic code of the issue-7 groundwork commit already has the
    # column (its additive step added it) and is adopted at 0001: keep that column as it is.
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("source")}
    if "extract_input_digest" in present:
        return
    with op.batch_alter_table("source") as batch:
        batch.add_column(sa.Column("extract_input_digest", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("source") as batch:
        batch.drop_column("extract_input_digest")
