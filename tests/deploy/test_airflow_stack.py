"""The Airflow part of docker-compose.yml run for real, without Docker: the `airflow-init` script, then api-server,
scheduler, DAG processor, triggerer and a Celery worker as processes with the environment `docker-compose config`
renders for them. Only what Docker's network would give is swapped: the metadata database (one on the test
Postgres), Redis (a redis-server on a free port) and the ports. A DAG run goes scheduler → Redis → worker →
execution API with the compose file's JWT secret, after logging in with the simple auth manager and unpausing the
DAG (new DAGs start paused).

Part of `make test` (~75 s on 2 cores; alone: `make test-compose-stack`); tests/deploy/test_compose.py checks the
same file statically.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from loyalty.paths import PROJECT_ROOT
from loyalty_dev.celery_stack import free_port, metadata_database, redis_broker, wait_until

from ..debian import ensure_packages
from .test_compose import render

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.timeout(900),
]
VENV_BIN = Path(sys.executable).parent
SERVICES = {
    "airflow-apiserver": ["api-server"],
    "airflow-scheduler": ["scheduler"],
    "airflow-dag-processor": ["dag-processor"],
    "airflow-triggerer": ["triggerer"],
    "airflow-worker": ["celery", "worker", "--concurrency", "2"],
}
SMOKE_DAG = '''"""An airflow dag of one task: it runs on a Celery worker through the execution API."""
import datetime as dt

from airflow.sdk import dag, task


@dag(schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False)
def compose_stack_smoke():
    @task
    def where_is_the_project() -> str:
        from loyalty.paths import PROJECT_ROOT

        return str(PROJECT_ROOT)

    where_is_the_project()


compose_stack_smoke()
'''


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    ensure_packages(["redis-server"], [Path("/usr/bin/redis-server")])  # without it: the machine's Redis on 6379
    with redis_broker(tmp_path / "redis") as url:
        yield url


@pytest.fixture
def metadata_urls(warehouse_url: str) -> Iterator[dict[str, str]]:
    """A fresh Airflow metadata database on the test Postgres, as the settings Airflow takes."""
    with metadata_database(warehouse_url, f"airflow_stack_{uuid.uuid4().hex[:8]}") as metadata:
        yield metadata.settings


def stack_env(
    tmp_path: Path, warehouse_url: str, redis_url: str, metadata_urls: dict[str, str]
) -> tuple[dict[str, str], int, int]:
    """The airflow-init service's environment from `docker-compose config`, with Docker's network swapped out."""
    env = {key: str(value) for key, value in render("local")["services"]["airflow-init"]["environment"].items()}
    assert "@airflow-metadata:5432/" in env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert env["AIRFLOW__CELERY__BROKER_URL"] == "redis://redis:6379/0"
    api_port, health_port = free_port(), free_port()
    (tmp_path / "dags").mkdir()
    (tmp_path / "dags" / "compose_stack_smoke.py").write_text(SMOKE_DAG)
    (tmp_path / "auth").mkdir()
    env.update(metadata_urls)
    env.update(
        {
            "AIRFLOW__CELERY__BROKER_URL": redis_url,
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"].replace(
                "http://airflow-apiserver:8080", f"http://127.0.0.1:{api_port}"
            ),
            "AIRFLOW__API__PORT": str(api_port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
            "AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT": str(health_port),
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__CORE__DAGS_FOLDER": str(tmp_path / "dags"),
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(tmp_path / "auth" / "passwords.json"),
            "AIRFLOW_HOME": str(tmp_path / "airflow"),
            "LOYALTY_WAREHOUSE_URL": warehouse_url,
            "LOYALTY_STATE_DIR": str(tmp_path / "state"),
            "PATH": f"{VENV_BIN}:{os.environ['PATH']}",
            "HOME": str(tmp_path),
        }
    )
    return env, api_port, health_port


def api(port: int, path: str, token: str | None = None, body: dict[str, Any] | None = None, method: str = "GET") -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = httpx.request(method, f"http://127.0.0.1:{port}{path}", json=body, headers=headers, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def test_a_dag_runs_on_a_celery_worker_with_the_compose_environment(
    tmp_path: Path, warehouse_url: str, redis_url: str, metadata_urls: dict[str, str]
) -> None:
    env, api_port, health_port = stack_env(tmp_path, warehouse_url, redis_url, metadata_urls)
    logs = tmp_path / "logs"
    logs.mkdir()
    init = subprocess.run(
        ["/bin/sh", str(PROJECT_ROOT / "deploy" / "airflow-init.sh")],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert init.returncode == 0, init.stderr[-2000:]
    processes, log_files = [], []
    try:
        for name, args in SERVICES.items():
            log_files.append((logs / f"{name}.log").open("w"))
            command = [str(VENV_BIN / "airflow"), *args]
            started = subprocess.Popen(
                command, env=env, stdout=log_files[-1], stderr=subprocess.STDOUT, start_new_session=True
            )
            processes.append(started)
        wait_until(lambda: api(api_port, "/api/v2/version"), 300, "the api-server", logs=logs)
        wait_until(
            lambda: httpx.get(f"http://127.0.0.1:{health_port}/health", timeout=10).is_success,
            300,
            "the scheduler's health check",
            logs=logs,
        )

        with pytest.raises(httpx.HTTPStatusError) as refused:
            api(api_port, "/api/v2/dags")
        assert refused.value.response.status_code == 401  # logins required
        passwords = json.loads(env["AIRFLOW_PASSWORDS"])
        token = api(api_port, "/auth/token", body={"username": "admin", "password": passwords["admin"]}, method="POST")[
            "access_token"
        ]

        dag = wait_until(
            lambda: api(api_port, "/api/v2/dags/compose_stack_smoke", token), 300, "the DAG parsed", logs=logs
        )
        assert dag["is_paused"] is True  # new DAGs start paused
        api(api_port, "/api/v2/dags/compose_stack_smoke", token, {"is_paused": False}, "PATCH")
        run = api(api_port, "/api/v2/dags/compose_stack_smoke/dagRuns", token, {"logical_date": None}, "POST")
        run_path = f"/api/v2/dags/compose_stack_smoke/dagRuns/{run['dag_run_id']}"

        def finished() -> dict[str, Any] | None:
            state = api(api_port, run_path, token)
            return state if state["state"] in {"success", "failed"} else None

        assert wait_until(finished, 400, "the DAG run", interval=3, logs=logs)["state"] == "success"
        xcom = api(api_port, f"{run_path}/taskInstances/where_is_the_project/xcomEntries/return_value", token)
        value = xcom["value"]
        assert (json.loads(value) if isinstance(value, str) and value.startswith('"') else value) == str(PROJECT_ROOT)
    finally:
        for process in processes:
            process.terminate()  # the worker's warm shutdown, the servers' own shutdown of their children
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # what is left of its own session (started above)
        for log_file in log_files:
            log_file.close()
