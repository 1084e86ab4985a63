"""The one way into the warehouse: resolve its URL, open connections, run SQL files (loyalty.sql_files).

Resolution order, used by the CLI, dbt's profile, Airflow's connection and the tests alike:
1. `LOYALTY_WAREHOUSE_URL` when set (any Postgres the user points us at);
2. otherwise an embedded PostgreSQL (pgserver) whose data lives in the project's state folder.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import psycopg

from loyalty.paths import SQL_DIR, state_dir
from loyalty.sql_files import query

ENV_URL = "LOYALTY_WAREHOUSE_URL"


def embedded_data_dir() -> Path:
    return state_dir() / "pgdata"


def _runtime_dir() -> None:
    """pgserver (via platformdirs) wants a private runtime dir; give it one in the state folder."""
    if "XDG_RUNTIME_DIR" not in os.environ:
        runtime = state_dir() / "run"
        runtime.mkdir(mode=0o700, exist_ok=True)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime)


def start_embedded() -> str:
    """Start (or reuse) the embedded Postgres and return its URL.

    It keeps running after this process exits (`cleanup_mode=None`) so Airflow tasks,
    dbt and the webhook receiver share one server; `stop_embedded` ends it.
    """
    _runtime_dir()
    import pgserver  # heavy and only needed for the embedded case

    server = pgserver.get_server(embedded_data_dir(), cleanup_mode=None)
    return server.get_uri()


def stop_embedded() -> bool:
    """Stop the embedded Postgres if it runs; True when one was stopped."""
    data_dir = embedded_data_dir()
    if not (data_dir / "postmaster.pid").exists():
        return False
    _runtime_dir()
    import pgserver

    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    server.cleanup()
    return True


def resolve_url() -> str:
    """The warehouse URL every component uses (see module docstring)."""
    url = os.environ.get(ENV_URL, "").strip()
    return url or start_embedded()


def connection_params(url: str) -> dict[str, Any]:
    """Split a postgres URL into the fields dbt profiles and Airflow connections want.

    Handles the unix-socket form pgserver returns (`postgresql://user:@/db?host=/dir`).
    """
    parsed = urlparse(url)
    if parsed.scheme not in {"postgresql", "postgres", "postgresql+psycopg"}:
        raise ValueError(f"{ENV_URL} must be a postgresql:// URL, got scheme {parsed.scheme!r}")
    query = parse_qs(parsed.query)
    host = query.get("host", [parsed.hostname or "127.0.0.1"])[0]
    return {
        "host": host,
        "port": parsed.port or int(query.get("port", ["5432"])[0]),
        "user": unquote(parsed.username or "postgres"),
        "password": unquote(parsed.password or ""),
        "dbname": (parsed.path or "/postgres").lstrip("/") or "postgres",
    }


def dbt_env(url: str) -> dict[str, str]:
    """Environment variables dbt_project/profiles.yml reads."""
    params = connection_params(url)
    return {
        "LOYALTY_PG_HOST": str(params["host"]),
        "LOYALTY_PG_PORT": str(params["port"]),
        "LOYALTY_PG_USER": str(params["user"]),
        "LOYALTY_PG_PASSWORD": str(params["password"]),
        "LOYALTY_PG_DBNAME": str(params["dbname"]),
    }


TRUST_AUTH_PASSWORD = "unused-trust-auth"  # noqa: S105 - a placeholder, not a secret


def airflow_connection_json(url: str) -> str:
    """The warehouse as an Airflow connection (JSON form for `AIRFLOW_CONN_LOYALTY_WAREHOUSE`).

    cosmos' Postgres profile mapping insists on a password; a server with trust auth (the
    embedded one, on its private socket) ignores it, so an empty one becomes a placeholder.
    """
    import json

    params = connection_params(url)
    params["password"] = params["password"] or TRUST_AUTH_PASSWORD
    return json.dumps(
        {
            "conn_type": "postgres",
            "host": params["host"],
            "port": params["port"],
            "login": params["user"],
            "password": params["password"],
            "schema": params["dbname"],
        }
    )


def url_from_connection_fields(
    host: str, port: int | None, login: str | None, password: str | None, schema: str | None
) -> str:
    """Rebuild a URL from Airflow connection fields (a socket directory becomes `?host=`)."""
    from urllib.parse import quote

    auth = quote(login or "postgres")
    if password and password != TRUST_AUTH_PASSWORD:
        auth += ":" + quote(password)
    dbname = schema or "postgres"
    if host.startswith("/"):
        return f"postgresql://{auth}@/{dbname}?host={quote(host)}&port={port or 5432}"
    return f"postgresql://{auth}@{host}:{port or 5432}/{dbname}"


@contextmanager
def connect(
    url: str | None = None, autocommit: bool = False, timeout: int | None = None
) -> Iterator[psycopg.Connection]:
    """A psycopg connection to the warehouse; commits on success, rolls back on error. `timeout` (seconds)
    bounds the connection attempt (libpq's connect_timeout) for callers that must answer quickly."""
    conninfo = url or resolve_url()
    if timeout is not None:
        conninfo = psycopg.conninfo.make_conninfo(conninfo, connect_timeout=timeout)
    with psycopg.connect(conninfo, autocommit=autocommit) as conn:
        yield conn


def run_sql_file(
    conn: psycopg.Connection, name: str, params: Mapping[str, Any] | None = None, directory: Path = SQL_DIR
) -> None:
    """Execute a whole `.sql` file loaded by loyalty.sql_files (several statements when it takes no parameters)."""
    conn.execute(query(name, directory), params)


# Every table the migrations create (loyalty.migrations; a test compares with a warehouse at head), the version
# table aside: what a replaced world or a test empties.
APP_TABLES = (
    "raw.customers",
    "raw.products",
    "raw.orders",
    "raw.order_lines",
    "raw.message_events",
    "raw.app_events",
    "raw.quarantine",
    "raw.quality_results",
    "raw.quality_checked_loads",
    "raw.loaded_files",
    "loyalty.send_ledger",
    "loyalty.journey_entries",
    "loyalty.completed_plans",
    "loyalty.workflow_runs",
    "loyalty.contactability",
)


def empty_app_tables(conn: psycopg.Connection) -> None:
    """Truncate every table the application owns (raw landing, ledger, suppression list, load records).

    Only for a replaced synthetic world or a test: a warehouse with a retailer's data is never emptied.
    """
    conn.execute(f"truncate {', '.join(APP_TABLES)}")


DBT_SCHEMAS = ("staging", "intermediate", "marts", "seeds", "snapshots")


def drop_dbt_schemas(conn: psycopg.Connection) -> None:
    """Drop everything dbt derived (models, seeds, snapshots) so a new synthetic world starts clean.

    Only for a replaced synthetic world: snapshots would otherwise keep the old world's history.
    """
    from psycopg import sql

    for schema in DBT_SCHEMAS:
        conn.execute(sql.SQL("drop schema if exists {} cascade").format(sql.Identifier(schema)))


def init_schema(url: str | None = None) -> list[str]:
    """Create or upgrade the application's own tables (raw landing, send ledger, journeys, contactability): the
    pending migrations (loyalty.migrations), applied in order and returned; none on a current warehouse."""
    from loyalty import migrations  # alembic and SQLAlchemy load only where the schema is set up

    return migrations.upgrade(url or resolve_url())
