"""A real Airflow deployment on one machine, as docker-compose.yml runs it across machines: Postgres
metadata, Redis as the Celery broker, the api-server, scheduler, dag-processor and N CeleryExecutor
workers, each its own process (tests/integration/test_celery_workers.py drives it).

Nothing here schedules or queues anything itself: Airflow's scheduler and Celery do; this module only
starts their processes with one shared configuration and stops them.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from psycopg import sql
from sqlalchemy.engine import URL

from loyalty.warehouse import connection_params, url_from_connection_fields

WORKER_NAME_ENV = "LOYALTY_WORKER_NAME"


def worker_hostname() -> str:
    """Airflow's `core.hostname_callable` for workers sharing one machine: each records its own name
    on the task instances it runs (else every worker here reports the same host)."""
    return os.environ.get(WORKER_NAME_ENV) or socket.getfqdn()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(
    condition: Callable[[], Any], timeout: float, what: str, interval: float = 0.5, logs: Path | None = None
) -> Any:
    """Poll `condition` until it returns something truthy (a service not answering yet counts as not yet);
    TimeoutError naming `what` otherwise, with the tail of every log in `logs`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with suppress(OSError, httpx.HTTPError):
            if result := condition():
                return result
        time.sleep(interval)
    tails = [f"\n--- {path.name}\n{path.read_text()[-1500:]}" for path in sorted(logs.glob("*.log"))] if logs else []
    raise TimeoutError(f"timed out after {timeout:.0f}s waiting for {what}" + "".join(tails))


def _redis_answers(port: int) -> bool:
    with suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1) as conn:
        conn.sendall(b"PING\r\n")
        return conn.recv(16).startswith(b"+PONG")
    return False


@contextmanager
def redis_broker(folder: Path) -> Iterator[str]:
    """A private redis-server on a free port (nothing kept on disk); its URL. Without the binary, the machine's
    Redis on 6379 (a database of its own), else an error saying what to install."""
    binary = shutil.which("redis-server")
    if binary is None:
        if _redis_answers(6379):
            yield "redis://127.0.0.1:6379/13"
            return
        raise RuntimeError("no Redis: install redis-server (Debian: apt-get install redis-server) or run one on 6379")
    port = free_port()
    folder.mkdir(parents=True, exist_ok=True)
    command = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    command += ["--dir", str(folder), "--logfile", str(folder / "redis.log")]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_until(lambda: _redis_answers(port), 30, "redis-server")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=30)


@dataclass(frozen=True)
class MetadataDatabase:
    """Airflow's metadata database: `url` for a direct look (psycopg), `settings` for Airflow's processes."""

    url: str
    settings: dict[str, str]


@contextmanager
def metadata_database(server_url: str, name: str) -> Iterator[MetadataDatabase]:
    """A fresh database for Airflow's metadata on the given Postgres server, dropped afterwards."""
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))
        admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
    params = connection_params(server_url)
    on_socket = str(params["host"]).startswith("/")

    def url(driver: str) -> str:
        query = {"host": str(params["host"]), "port": str(params["port"])} if on_socket else {}
        host, port = (None, None) if on_socket else (str(params["host"]), int(params["port"]))
        built = URL.create(driver, params["user"], params["password"] or None, host, port, name, query)
        return built.render_as_string(hide_password=False)

    yield MetadataDatabase(
        url=url_from_connection_fields(params["host"], params["port"], params["user"], params["password"], name),
        settings={
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": url("postgresql+psycopg2"),
            # The api-server's async engine: psycopg 3 (installed) instead of Airflow's default, asyncpg (not).
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": url("postgresql+psycopg"),
            "AIRFLOW__CELERY__RESULT_BACKEND": "db+" + url("postgresql"),
        },
    )
    with psycopg.connect(server_url, autocommit=True) as admin:
        admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def celery_env(base: dict[str, str], metadata: MetadataDatabase, broker_url: str, api_port: int) -> dict[str, str]:
    """One configuration for every process of the deployment (what docker-compose.yml's env files hold)."""
    return {
        **base,
        **metadata.settings,
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": secrets.token_hex(32),
        "AIRFLOW__CORE__HOSTNAME_CALLABLE": f"{__name__}.worker_hostname",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "30",
        "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "2",
        # A task a killed worker had reserved but not started stays `queued` (its Celery message unacknowledged)
        # until this timeout sends it again: 600 s (+ a 120 s check) by default, seconds here.
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "90",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT_CHECK_INTERVAL": "5",
        "AIRFLOW__CORE__PARALLELISM": "8",
    }


@dataclass
class CeleryDeployment:
    """The running processes; each in its own process group so one can be killed with its children."""

    env: dict[str, str]
    logs: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, *args: str, extra_env: dict[str, str] | None = None) -> subprocess.Popen:
        binary = Path(sys.executable).with_name("airflow")
        log = (self.logs / f"{name}.log").open("ab")
        process = subprocess.Popen(
            [str(binary), *args],
            env={**os.environ, **self.env, **(extra_env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def start_worker(self, name: str, concurrency: int) -> subprocess.Popen:
        return self.start(
            name,
            "celery",
            "worker",
            "--concurrency",
            str(concurrency),
            "--celery-hostname",
            f"{name}@%h",
            "--skip-serve-logs",
            extra_env={WORKER_NAME_ENV: name},
        )

    def worker_ready(self, name: str) -> bool:
        """The worker has connected to the broker and takes tasks (Celery logs `<name>@<host> ready.`)."""
        log = self.logs / f"{name}.log"
        ready = re.compile(rf"{re.escape(name)}@\S+ ready\.")
        return log.exists() and ready.search(log.read_text(errors="replace")) is not None

    def kill(self, name: str) -> None:
        """SIGKILL a process and everything it started (a worker's pool and its running tasks)."""
        process = self.processes[name]
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)

    def stop(self) -> None:
        for process in self.processes.values():
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
        for name, process in self.processes.items():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.kill(name)

    def airflow(self, *args: str) -> str:
        """An Airflow CLI command against this deployment; its output (raises with the output on failure)."""
        binary = Path(sys.executable).with_name("airflow")
        done = subprocess.run(
            [str(binary), *args], env={**os.environ, **self.env}, capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"airflow {' '.join(args)} failed:\n{(done.stdout + done.stderr)[-3000:]}")
        return done.stdout
