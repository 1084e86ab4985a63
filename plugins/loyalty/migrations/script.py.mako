"""${message}

Revision ID: ${up_revision}
Revises: ${down_revision | comma,n}
Create Date: ${create_date}
"""

from loyalty.migrations.sql import forward_only, run_file

revision = "${up_revision}"
down_revision = "${down_revision}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    run_file("${config.attributes["sql_file"]}")


def downgrade() -> None:
    forward_only(revision)
