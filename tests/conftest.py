"""Shared fixtures: a real, private Postgres for the whole session.

With LOYALTY_WAREHOUSE_URL set, tests create (and drop) their own database on that server;
otherwise they start an embedded Postgres (pgserver) in a temporary folder. Either way they
never touch the user's data.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loyalty import warehouse

APP_TABLES = (
    "raw.customers",
    "raw.products",
    "raw.orders",
    "raw.order_lines",
    "raw.message_events",
    "raw.quarantine",
    "raw.quality_results",
    "raw.quality_checked_loads",
    "loyalty.send_ledger",
    "loyalty.journey_entries",
    "loyalty.completed_plans",
    "loyalty.workflow_runs",
    "loyalty.contactability",
)


@pytest.fixture(scope="session", autouse=True)
def private_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Tests never write into the developer's .state folder (dbt target, Airflow home, logs)."""
    path = tmp_path_factory.mktemp("state")
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="session")
def warehouse_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    server_url = os.environ.get(warehouse.ENV_URL)
    if server_url:
        name = f"loyalty_test_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'create database "{name}"')
        params = warehouse.connection_params(server_url)
        url = warehouse.url_from_connection_fields(
            params["host"], params["port"], params["user"], params["password"], name
        )
        warehouse.init_schema(url)
        yield url
        with psycopg.connect(server_url, autocommit=True) as admin:
            admin.execute(f'drop database if exists "{name}" with (force)')
        return
    os.environ.setdefault("XDG_RUNTIME_DIR", str(tmp_path_factory.mktemp("run")))
    import pgserver

    data_dir: Path = tmp_path_factory.mktemp("pg") / "data"
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    url = server.get_uri()
    warehouse.init_schema(url)
    yield url
    server.cleanup()
    logging.getLogger("pgserver").disabled = True  # its atexit hook would log to pytest's closed streams


def empty_app_tables(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"truncate {', '.join(APP_TABLES)}")


@pytest.fixture
def clean_warehouse(warehouse_url: str) -> str:
    """The session warehouse with the application's tables emptied."""
    empty_app_tables(warehouse_url)
    return warehouse_url
