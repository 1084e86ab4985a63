"""Warehouse checks: it answers, the application's schemas and tables exist at the newest migration, dbt's
marts are built.
"""

from __future__ import annotations

import os

import psycopg

from loyalty import warehouse
from loyalty.doctor.context import Deployment, first_line
from loyalty.doctor.result import CheckResult, fail, ok, skip, warn
from loyalty.sql_files import query
from loyalty.urls import redacted

CONNECT_TIMEOUT_S = 5
APP_SCHEMAS = ("raw", "loyalty")
CORE_MARTS = ("marts.dim_customers",)  # what every workflow's eligibility model builds on
URL_FORM = "postgresql://user:password@host:5432/database"
INIT_FIX = "Run `loyalty warehouse init` with the same LOYALTY_WAREHOUSE_URL: it creates the application's schemas "
INIT_FIX += "and tables (and changes nothing that exists)."


def connect(ctx: Deployment) -> CheckResult:
    """The URL resolves (LOYALTY_WAREHOUSE_URL, else the embedded Postgres) and a connection opens in seconds."""
    name = "warehouse.connect"
    given = os.environ.get(warehouse.ENV_URL, "").strip()
    source = "LOYALTY_WAREHOUSE_URL" if given else "the embedded PostgreSQL (LOYALTY_WAREHOUSE_URL is not set)"
    try:
        url = warehouse.resolve_url()
        params = warehouse.connection_params(url)
    except ValueError as error:
        return fail(name, str(error), f"Set LOYALTY_WAREHOUSE_URL to {URL_FORM}.")
    except Exception as error:  # the embedded server did not start: its own message says why
        return fail(
            name,
            f"the embedded PostgreSQL did not start: {first_line(error)}",
            f"Set LOYALTY_WAREHOUSE_URL to your Postgres ({URL_FORM}), or stop what holds the state folder's "
            "pgdata (`loyalty warehouse stop`) and try again.",
        )
    try:
        with warehouse.connect(url, autocommit=True, timeout=CONNECT_TIMEOUT_S) as conn:
            version = conn.execute("show server_version").fetchone()
    except psycopg.Error as error:
        return fail(
            name,
            f"cannot connect to {redacted(url)} (from {source}): {first_line(error)}",
            f"Check that PostgreSQL runs at {params['host']}:{params['port']} and lets user {params['user']!r} into "
            f"database {params['dbname']!r}, or set LOYALTY_WAREHOUSE_URL to the right {URL_FORM}.",
        )
    ctx.warehouse_url = url
    return ok(name, f"{redacted(url)} answers (PostgreSQL {version[0] if version else '?'}), from {source}")


def _missing(url: str, sql_file: str, params: dict[str, list[str]]) -> list[str]:
    with warehouse.connect(url, autocommit=True, timeout=CONNECT_TIMEOUT_S) as conn:
        cursor = conn.execute(query(sql_file), params)
        return [row[0] for row in cursor.fetchall()]


def schemas(ctx: Deployment) -> CheckResult:
    """The application's schemas exist (`loyalty warehouse init` creates them)."""
    name = "warehouse.schemas"
    if ctx.warehouse_url is None:
        return skip(name, "not checked: the warehouse does not answer")
    ctx.missing_schemas = _missing(ctx.warehouse_url, "doctor/missing_schemas.sql", {"names": list(APP_SCHEMAS)})
    if ctx.missing_schemas:
        return fail(name, f"schema(s) missing: {', '.join(ctx.missing_schemas)}", INIT_FIX)
    return ok(name, f"schemas {', '.join(APP_SCHEMAS)} present")


def _split(relations: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    pairs = [relation.split(".", 1) for relation in relations]
    return {"schemas": [schema for schema, _ in pairs], "names": [table for _, table in pairs]}


def tables(ctx: Deployment) -> CheckResult:
    """Every table the application writes exists (the send ledger, the raw landing, the suppression list)."""
    name = "warehouse.tables"
    if ctx.warehouse_url is None or ctx.missing_schemas:
        return skip(name, "not checked: the warehouse does not answer or lacks its schemas")
    missing = _missing(ctx.warehouse_url, "doctor/missing_relations.sql", _split(warehouse.APP_TABLES))
    if missing:
        return fail(name, f"{len(missing)} application table(s) missing: {_listed(missing)}", INIT_FIX)
    return ok(name, f"all {len(warehouse.APP_TABLES)} application tables present")


def migrations(ctx: Deployment) -> CheckResult:
    """The application tables are at this release's newest migration (`loyalty warehouse upgrade` brings them)."""
    name = "warehouse.migrations"
    if ctx.warehouse_url is None or ctx.missing_schemas:
        return skip(name, "not checked: the warehouse does not answer or lacks its schemas")
    from loyalty.migrations import MigrationError, status

    try:
        found = status(ctx.warehouse_url)
    except MigrationError as error:  # e.g. a revision this release does not know: a newer release upgraded it
        return fail(name, first_line(error), "Run the release that upgraded this warehouse, or restore its backup.")
    if not found.is_current:
        return fail(
            name,
            f"at revision {found.current or 'none'}, this release's head is {found.head} "
            f"({len(found.pending)} pending: {', '.join(found.pending)})",
            "Run `loyalty warehouse upgrade` with the same LOYALTY_WAREHOUSE_URL (back the ledger up first: "
            "docs/operations.md).",
        )
    return ok(name, f"at this release's head revision ({found.head})")


def marts(ctx: Deployment) -> CheckResult:
    """dbt's marts exist: the customer mart and every workflow's audience model (a warning before the first build)."""
    name = "warehouse.marts"
    if ctx.warehouse_url is None:
        return skip(name, "not checked: the warehouse does not answer")
    audiences = [f"{spec.audience.schema_}.{spec.audience.model}" for spec in ctx.workflows.specs]
    wanted = list(dict.fromkeys([*CORE_MARTS, *audiences]))
    missing = _missing(ctx.warehouse_url, "doctor/missing_relations.sql", _split(wanted))
    if missing:
        return warn(
            name,
            f"dbt's marts are not built yet: {_listed(missing)} missing",
            "Run the `loyalty_warehouse` DAG once (or `dbt build` in dbt_project/): workflows read their audience "
            "from these models and fail without them.",
        )
    return ok(name, f"{len(wanted)} marts present (customers and every workflow's audience)")


def _listed(names: list[str], most: int = 5) -> str:
    shown_names = ", ".join(names[:most])
    return shown_names + (f" and {len(names) - most} more" if len(names) > most else "")
