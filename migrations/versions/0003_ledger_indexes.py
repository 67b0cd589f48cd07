"""Ledger indexes for reports and bulk import (filled in by the index work)

Revision ID: 0003_ledger_indexes
Revises: 0002_ledger
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "0003_ledger_indexes"
down_revision: str | None = "0002_ledger"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
