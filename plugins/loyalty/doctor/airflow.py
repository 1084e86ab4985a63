"""Airflow checks (read through loyalty.orchestration, the package's one Airflow importer): the metadata DB
answers, every channel the workflows send on has its pool (a send task whose pool is missing waits forever),
and the warehouse the tasks use answers.
"""

from __future__ import annotations

import os

import psycopg

from loyalty import warehouse
from loyalty.doctor.context import Deployment, first_line
from loyalty.doctor.result import CheckResult, fail, ok, skip, warn
from loyalty.orchestration import metadata
from loyalty.urls import redacted

DEFAULT_SLOTS = 4  # what the local stack gives each channel; the fix suggests it


def _metadata() -> str:
    url, home = metadata.location()
    return f"{redacted(url)} (AIRFLOW_HOME={home})"


def pools(ctx: Deployment) -> CheckResult:
    """One pool per channel the workflows send on (reward included), with at least one slot."""
    name = "airflow.pools"
    try:
        found = metadata.pools()
    except Exception as error:  # no metadata DB, not migrated, unreachable: SQLAlchemy's errors
        return fail(
            name,
            f"cannot read Airflow's metadata DB at {_metadata()}: {first_line(error)}",
            "Run `airflow db migrate` with this AIRFLOW_HOME, or set AIRFLOW_HOME (and its airflow.cfg / "
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN) to your deployment's.",
        )
    wanted = sorted(ctx.workflows.channels())
    broken = [channel for channel in wanted if found.get(channel, 0) < 1]
    if broken:
        problems = [f"{c} (has {found[c]} slots)" if c in found else c for c in broken]
        commands = "; ".join(f"`airflow pools set {c} {DEFAULT_SLOTS} '{c} sends'`" for c in broken)
        return fail(
            name,
            f"pool(s) missing or without slots: {', '.join(problems)}: their send tasks would wait forever",
            f"Run {commands} (slots: how many batches of the channel send at once).",
        )
    return ok(name, ", ".join(f"{channel}: {found[channel]} slots" for channel in wanted) or "no pool needed")


def warehouse_connection(ctx: Deployment) -> CheckResult:
    """The warehouse Airflow's tasks use (the `loyalty_warehouse` connection, else the same resolution) answers."""
    from loyalty.orchestration.connections import WAREHOUSE_CONN_ID, warehouse_url

    name = "airflow.warehouse_connection"
    try:
        url = warehouse_url()
    except Exception as error:
        return fail(name, f"{WAREHOUSE_CONN_ID}: {first_line(error)}", _fix(WAREHOUSE_CONN_ID))
    if ctx.warehouse_url is not None and _same_database(url, ctx.warehouse_url):
        return ok(name, "Airflow's tasks use the same warehouse as this command")
    if url == os.environ.get(warehouse.ENV_URL, "").strip():
        return skip(name, "not checked: tasks use LOYALTY_WAREHOUSE_URL too, which does not answer")
    try:
        with warehouse.connect(url, autocommit=True, timeout=5):
            pass
    except psycopg.Error as error:
        return fail(
            name, f"Airflow's tasks cannot connect to {redacted(url)}: {first_line(error)}", _fix(WAREHOUSE_CONN_ID)
        )
    return warn(
        name,
        f"Airflow's tasks use {redacted(url)} ({WAREHOUSE_CONN_ID}), not this command's warehouse: fine only if it is "
        "the same database seen from Airflow's network",
        f"Point {WAREHOUSE_CONN_ID} and LOYALTY_WAREHOUSE_URL at the same database.",
    )


def _same_database(one: str, other: str) -> bool:
    """Whether two URLs name the same database (host, port, user, database; spelling and password aside)."""
    try:
        first, second = warehouse.connection_params(one), warehouse.connection_params(other)
    except ValueError:
        return False
    return all(first[key] == second[key] for key in ("host", "port", "user", "dbname"))


def _fix(conn_id: str) -> str:
    return (
        f"Fix the {conn_id} connection (host, port, login, password; schema = the database), or remove it so the "
        "tasks use LOYALTY_WAREHOUSE_URL."
    )
