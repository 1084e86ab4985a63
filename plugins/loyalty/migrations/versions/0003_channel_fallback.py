"""Channel fallback: send_ledger.channel_attempt in the one-per-cycle key.

A dead address gets one more row on the next channel, attempt 2 (commit fbc9a01).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07 06:22:32+00:00
"""

from loyalty.migrations.sql import forward_only, run_file

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_file("0003_channel_fallback.sql")


def downgrade() -> None:
    forward_only(revision)
