"""Statements: delivery log (filled in by the statements work)

Revision ID: 0004_statements
Revises: 0003_ledger_indexes
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "0004_statements"
down_revision: str | None = "0003_ledger_indexes"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
