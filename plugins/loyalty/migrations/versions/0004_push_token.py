"""Push tokens: raw.customers.push_token, the customer's FCM registration token.

Last in the table, after loaded_at, in a new and an upgraded warehouse alike (commit 77e836f).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07 06:48:37+00:00
"""

from loyalty.migrations.sql import forward_only, run_file

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_file("0004_push_token.sql")


def downgrade() -> None:
    forward_only(revision)
