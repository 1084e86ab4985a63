"""Alembic's environment for the application tables (alembic loads it; loyalty.migrations.commands drives it).

Online, it runs on the connection `commands` opened (`config.attributes["connection"]`): first a session
advisory lock, so two upgrades at once run one after the other (the second finds nothing pending; the lock goes
with the connection), then the `loyalty` schema that holds the version table, then one transaction per revision.
Offline (`--sql`), it prints the statements instead.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from alembic import context
from alembic.runtime.migration import MigrationContext, MigrationInfo

from loyalty.migrations.commands import VERSION_TABLE, VERSION_TABLE_SCHEMA

config = context.config
OPTIONS: dict[str, Any] = {
    "version_table_schema": VERSION_TABLE_SCHEMA,
    "version_table": VERSION_TABLE,
    "transaction_per_migration": True,
}


def _record(ctx: MigrationContext, step: MigrationInfo, heads: Collection[Any], run_args: Mapping[str, Any]) -> None:
    """Note each applied revision (loyalty.migrations.upgrade returns them)."""
    config.attributes.setdefault("applied", []).append(step.up_revision_id)


def run_offline() -> None:
    context.configure(dialect_name="postgresql", literal_binds=True, **OPTIONS)
    context.execute(f"create schema if not exists {VERSION_TABLE_SCHEMA}")
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run the migrations with `loyalty warehouse upgrade` (loyalty.migrations.upgrade)")
    connection.exec_driver_sql("select pg_advisory_lock(hashtextextended('loyalty.migrations', 0))")
    connection.exec_driver_sql(f"create schema if not exists {VERSION_TABLE_SCHEMA}")
    connection.commit()
    context.configure(connection=connection, on_version_apply=_record, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
