"""Read a deployment's Airflow metadata from outside Airflow (`loyalty doctor`), through Airflow's own Python
API under the deployment's AIRFLOW_HOME: in the doctor's process, rather than an `airflow pools list -o json`
subprocess that would start Airflow a second time."""

from __future__ import annotations

import os

SERVER_CONTEXT = "_AIRFLOW_PROCESS_CONTEXT"


def read_connections_from_metadata() -> None:
    """Outside a task, Airflow's SDK reads connections from the environment (and external secrets backends)
    only; `airflow connections get` declares itself a server process so that the metadata DB counts too. Do
    the same, so a connection defined in the UI counts (call before the first connection is read)."""
    os.environ.setdefault(SERVER_CONTEXT, "server")


def pools() -> dict[str, int]:
    """Pool name → slots, from the metadata DB (raises SQLAlchemy's errors when it is missing or not migrated)."""
    from airflow.models.pool import Pool
    from airflow.utils.session import create_session

    with create_session() as session:
        return {str(pool.pool): pool.slots for pool in Pool.get_pools(session=session)}


def location() -> tuple[str, str]:
    """(the metadata DB's SQLAlchemy URL, AIRFLOW_HOME) as this process's Airflow configuration sees them."""
    from airflow.configuration import AIRFLOW_HOME, conf

    return conf.get("database", "sql_alchemy_conn"), AIRFLOW_HOME
