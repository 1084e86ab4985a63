"""Versioned migrations of the application tables (raw landing, send ledger, journeys, contactability).

Alembic keeps the revisions (versions/, each running one `.sql` file of loyalty/sql/migrations) and records the
warehouse's revision in `loyalty.alembic_version`; `upgrade` applies what is pending (`loyalty warehouse upgrade`),
`status` says how far behind a warehouse is (`loyalty warehouse status`, the doctor's "migrations current").
"""

from loyalty.migrations.commands import (
    VERSION_TABLE,
    VERSION_TABLE_SCHEMA,
    MigrationError,
    MigrationStatus,
    alembic_config,
    revision_title,
    status,
    upgrade,
    upgrade_sql,
)

__all__ = [
    "VERSION_TABLE",
    "VERSION_TABLE_SCHEMA",
    "MigrationError",
    "MigrationStatus",
    "alembic_config",
    "revision_title",
    "status",
    "upgrade",
    "upgrade_sql",
]
