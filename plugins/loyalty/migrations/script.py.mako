"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from loyalty.migrations.sql import forward_only, run_file

revision = ${repr(up_revision)}
down_revision = ${repr(down_revision)}
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_file(${repr(config.attributes["sql_file"])})


def downgrade() -> None:
    forward_only(revision)
