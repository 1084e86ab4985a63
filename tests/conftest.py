"""Shared fixtures: a real, private Postgres for the whole session.

With LOYALTY_WAREHOUSE_URL set, tests create (and drop) their own database on that server;
otherwise they start an embedded Postgres (pgserver) in a temporary folder. Either way they
never touch the user's data.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loyalty import warehouse


@pytest.fixture(scope="session")
def session_dir() -> Iterator[Path]:
    """A folder that lives exactly as long as this session.

    Not under pytest's numbered temporary folders: a second pytest run started meanwhile (another
    checkout, a quick unit run) prunes the oldest of those, and with it this session's Postgres data.
    """
    path = Path(tempfile.mkdtemp(prefix="loyalty-tests-"))
    path.chmod(0o755)  # run as root, pgserver hands its data folder to a `pgserver` user, who must reach it
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session", autouse=True)
def private_state_dir(session_dir: Path) -> Iterator[Path]:
    """Tests never write into the developer's .state folder (dbt target, Airflow home, logs)."""
    path = session_dir / "state"
    path.mkdir()
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(path))
    yield path
    mp.undo()


@pytest.fixture(scope="session")
def warehouse_url(session_dir: Path) -> Iterator[str]:
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
    # pgserver keeps its lock files there, and its exit hook writes them again after the session's folder is gone:
    # one small folder per user, kept, instead of a leftover per session.
    run_dir = Path(tempfile.gettempdir()) / f"loyalty-tests-run-{os.getuid()}"
    run_dir.mkdir(mode=0o700, exist_ok=True)
    os.environ.setdefault("XDG_RUNTIME_DIR", str(run_dir))
    import pgserver

    data_dir = session_dir / "pg" / "data"
    data_dir.parent.mkdir()
    server = pgserver.get_server(data_dir, cleanup_mode="stop")
    url = server.get_uri()
    warehouse.init_schema(url)
    yield url
    server.cleanup()
    logging.getLogger("pgserver").disabled = True  # its atexit hook would log to pytest's closed streams


def mkdir(path: Path) -> Path:
    """`path`, created (for fixtures that keep a folder in `session_dir`)."""
    path.mkdir(parents=True, exist_ok=True)
    return path


def empty_app_tables(url: str) -> None:
    with psycopg.connect(url) as conn:
        warehouse.empty_app_tables(conn)


@pytest.fixture
def clean_warehouse(warehouse_url: str) -> str:
    """The session warehouse with the application's tables emptied."""
    empty_app_tables(warehouse_url)
    return warehouse_url
