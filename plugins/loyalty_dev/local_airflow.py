"""Drive a project-local Airflow (metadata on SQLite in the state folder) through its own CLI.

The demo and the end-to-end tests run real DAG runs with `airflow dags test`; `airflow
standalone` on the same AIRFLOW_HOME then shows those runs in the UI.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

from loyalty.orchestration.connections import DEFAULT_WEBHOOKS_URL
from loyalty.paths import DAGS_DIR, state_dir
from loyalty.unsubscribe import UnsubscribeLinks
from loyalty.warehouse import airflow_connection_json


class AirflowRunFailed(RuntimeError):
    """An `airflow` command failed; the message points at its log."""


LOCAL_UNSUBSCRIBE_SECRET = "local-unsubscribe-secret"  # noqa: S105  # signs the local stack's unsubscribe links
LOCAL_TWILIO_TOKEN = "local-twilio-auth-token"  # noqa: S105  # the emulator's Twilio auth token (signs its callbacks)
LOCAL_FCM_TOKEN = "local-fcm-access-token"  # noqa: S105  # the Bearer token the emulator's FCM accepts
LOCAL_PUSH_SECRET = "local-push-receipt-secret"  # noqa: S105  # signs the emulated app's push receipts
LOCAL_TWILIO_SID = "AC" + "0" * 32  # the emulator's default account
LOCAL_FCM_PROJECT = "loyalty-local"
# The email channel's links where a test or bench builds its own client (the local receiver's default address).
LOCAL_UNSUBSCRIBE = UnsubscribeLinks(DEFAULT_WEBHOOKS_URL, LOCAL_UNSUBSCRIBE_SECRET, "unsubscribe@example.com")


def airflow_home() -> Path:
    home = state_dir() / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    return home


def airflow_env(
    warehouse_url: str,
    sendgrid_host: str | None = None,
    sendgrid_key: str = "SG.local-emulator",
    webhooks_url: str | None = None,
) -> dict:
    """The environment every Airflow process of the project gets: home, DAGs, connections. With an emulator
    (`sendgrid_host`), every channel's connection points at it: SendGrid, Twilio (status callbacks to the
    receiver at `webhooks_url`) and FCM."""
    env = {
        "AIRFLOW_HOME": str(airflow_home()),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
        "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",  # no calls home (and no network here)
        "SCARF_NO_ANALYTICS": "true",
        "AIRFLOW_CONN_LOYALTY_WAREHOUSE": airflow_connection_json(warehouse_url),
        "LOYALTY_WAREHOUSE_URL": warehouse_url,
        "LOYALTY_STATE_DIR": str(state_dir()),
    }
    if sendgrid_host:
        env["AIRFLOW_CONN_LOYALTY_SENDGRID"] = json.dumps(
            {
                "conn_type": "http",
                "host": sendgrid_host,
                "password": sendgrid_key,
                "extra": {
                    "from_email": "loyalty@example.com",
                    "lookup": "emulator",
                    "unsubscribe_secret": LOCAL_UNSUBSCRIBE_SECRET,  # the local receiver's (demo.start_stack)
                },
            }
        )
        receiver = (webhooks_url or DEFAULT_WEBHOOKS_URL).rstrip("/")
        env["AIRFLOW_CONN_LOYALTY_TWILIO"] = json.dumps(
            {
                "conn_type": "http",
                "host": sendgrid_host,
                "login": LOCAL_TWILIO_SID,
                "password": LOCAL_TWILIO_TOKEN,
                "extra": {"status_callback": f"{receiver}/webhooks/twilio/status", "lookup": "emulator"},
            }
        )
        env["AIRFLOW_CONN_LOYALTY_FCM"] = json.dumps(
            {
                "conn_type": "http",
                "host": sendgrid_host,
                "password": LOCAL_FCM_TOKEN,
                "extra": {"project_id": LOCAL_FCM_PROJECT, "lookup": "emulator"},
            }
        )
    return env


def run_airflow(args: list[str], env: dict[str, str], log_name: str) -> str:
    """Run `airflow <args>`; raise AirflowRunFailed with the log path when it fails."""
    binary = Path(sys.executable).with_name("airflow")
    return _run_logged([str(binary), *args], env, log_name, f"airflow {' '.join(args)}")


def _run_logged(command: list[str], env: dict[str, str], log_name: str, what: str) -> str:
    log_path = state_dir() / "logs" / f"{log_name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    completed = subprocess.run(command, env={**os.environ, **env}, capture_output=True, text=True, check=False)
    log_path.write_text(completed.stdout + completed.stderr)
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).splitlines()[-15:])
        raise AirflowRunFailed(f"{what} failed (exit {completed.returncode}); log: {log_path}\n{tail}")
    return completed.stdout


def prepare(env: dict[str, str], pools: dict[str, int]) -> None:
    """Create or upgrade the metadata DB and the per-channel pools."""
    run_airflow(["db", "migrate"], env, "airflow-db-migrate")
    for pool, slots in pools.items():
        run_airflow(["pools", "set", pool, str(slots), f"{pool} sends"], env, f"airflow-pool-{pool}")


def dags_test_many(dag_ids: list[str], day: dt.date, env: dict[str, str]) -> str:
    """Real DAG runs of several DAGs for one logical date, in order, in one Airflow process
    (loyalty_dev.dag_runs: Airflow's start-up paid once, not per DAG); raises on the first failure."""
    command = [sys.executable, "-m", "loyalty_dev.dag_runs", day.isoformat(), *dag_ids]
    return _run_logged(command, env, f"dags-{day.isoformat()}", f"DAG runs of {day}")


def dags_test(dag_id: str, day: dt.date, env: dict[str, str], conf: dict | None = None) -> str:
    """One real DAG run for a logical date (conf overrides params, e.g. dry_run); raises on failure."""
    args = ["dags", "test", dag_id, day.isoformat()]
    if conf:
        args += ["--conf", json.dumps(conf)]
    return run_airflow(args, env, f"dag-{dag_id}-{day.isoformat()}")
