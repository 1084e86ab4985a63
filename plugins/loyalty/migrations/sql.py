"""What a revision calls: run its `.sql` file (loyalty/sql/migrations) in the revision's own transaction."""

from __future__ import annotations

from alembic import context, op

from loyalty.sql_files import read_sql


def run_file(name: str) -> None:
    """Execute loyalty/sql/migrations/`name` (several statements, no parameters), or print it with `--sql`.

    The text goes to psycopg as it is, not through SQLAlchemy's `text()`, which would read `:name` and `%` in it."""
    text = read_sql(f"migrations/{name}")
    if context.is_offline_mode():
        op.get_context().impl.static_output(text)
        return
    driver = op.get_bind().connection.driver_connection
    assert driver is not None
    driver.execute(text)


def forward_only(revision: str) -> None:
    """Revisions are not undone: a warehouse goes back by restoring a backup taken before the upgrade."""
    raise NotImplementedError(f"revision {revision} has no downgrade: restore the backup taken before upgrading")
