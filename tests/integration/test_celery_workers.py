"""The same DAGs under CeleryExecutor: Postgres metadata, Redis broker, the api-server, scheduler,
dag-processor and two Celery workers as separate processes (loyalty_dev.celery_stack). One workflow's
send tasks spread over both workers; one worker is killed mid-send; every message still reaches the
provider exactly once."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from loyalty_dev.celery_stack import (
    CeleryDeployment,
    celery_env,
    free_port,
    metadata_database,
    redis_broker,
    wait_until,
)
from loyalty_dev.local_airflow import LOCAL_TWILIO_TOKEN, airflow_env
from loyalty_dev.services import Service, start_service

from ..conftest import empty_app_tables
from ..debian import ensure_packages
from ._sends_support import emulator_messages, make_audience, make_spec

pytestmark = [pytest.mark.integration, pytest.mark.e2e]

WORKFLOW = "celery_sms"
CUSTOMERS = 240
BATCH = 20
RUN_DATE = dt.date(2026, 6, 1)
WORKERS = ("worker-1", "worker-2")


@dataclass
class Outcome:
    run_state: str
    killed_while: dict[str, int]  # the killed worker's running batches, its messages in flight, sent so far
    tries: list[tuple[int, int, str, str]]  # (map_index, try_number, hostname, state) of every send attempt
    ledger: dict[str, int]
    at_provider: Counter
    planned: int


def _meta(url: str, query: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchall()


@pytest.fixture(scope="module")
def emulator() -> Iterator[Service]:
    args = ["loyalty_dev.emulator", "--port", "0", "--seed", "11", "--api-key", "SG.local-emulator"]
    args += ["--twilio-auth-token", LOCAL_TWILIO_TOKEN, "--sms-unsubscribe-rate", "0"]
    service = start_service("emulator", args)
    # Slow enough that a batch is in flight when the worker dies, fast enough for the test.
    httpx.post(f"{service.url}/_emulator/settings", json={"sms": {"latency_s": 0.25}}, timeout=10)
    yield service
    service.stop()


@pytest.fixture(scope="module")
def outcome(warehouse_url: str, session_dir: Path, emulator: Service) -> Iterator[Outcome]:
    folder = session_dir / "celery"
    workflows = folder / "workflows"
    workflows.mkdir(parents=True)
    (folder / "logs").mkdir()
    (workflows / "program.yml").write_text("global_holdout: {pct: 0}\ncontact_policy: {frequency_cap: null}\n")
    make_spec(workflows, WORKFLOW, "sms", batch_size=BATCH, schedule=None)
    empty_app_tables(warehouse_url)
    make_audience(warehouse_url, WORKFLOW, range(1, CUSTOMERS + 1), run_date=RUN_DATE)
    with psycopg.connect(warehouse_url) as conn:  # the audience gate checks consent against the customers
        conn.execute(
            f"""insert into raw.customers (customer_id, phone, first_name, locale, signup_at, sms_consent)
                select customer_id, phone, first_name, locale, '2025-01-01', true from marts.eligible_{WORKFLOW}"""
        )

    ensure_packages(["redis-server"], [Path("/usr/bin/redis-server")])  # without it: the machine's Redis on 6379
    logs = folder / "logs"
    with (
        redis_broker(folder / "redis") as broker,
        metadata_database(warehouse_url, "airflow_celery_test") as metadata,
    ):
        base = airflow_env(warehouse_url, sendgrid_host=emulator.url)
        base |= {
            "AIRFLOW_HOME": str(folder / "airflow"),
            "LOYALTY_WORKFLOWS_DIR": str(workflows),
            "LOYALTY_PROGRAM_FILE": str(workflows / "program.yml"),
        }
        deployment = CeleryDeployment(celery_env(base, metadata, broker, free_port()), logs)
        try:
            deployment.airflow("db", "migrate")
            deployment.airflow("pools", "set", "sms", "4", "sms sends")
            port = deployment.env["AIRFLOW__API__BASE_URL"].rsplit(":", 1)[1]
            deployment.start("api-server", "api-server", "--port", port)
            deployment.start("scheduler", "scheduler")
            deployment.start("dag-processor", "dag-processor")
            for name in WORKERS:
                deployment.start_worker(name, concurrency=2)
            # Both take tasks before the run starts (else, on a loaded machine, worker-1 may reserve them all).
            wait_until(lambda: all(map(deployment.worker_ready, WORKERS)), 180, "both workers ready", logs=logs)
            wait_until(
                lambda: _meta(metadata.url, "select 1 from dag where dag_id = %s", [WORKFLOW]),
                180,
                "the DAG parsed",
                logs=logs,
            )
            deployment.airflow("dags", "unpause", WORKFLOW)
            conf = json.dumps({"run_date": RUN_DATE.isoformat()})
            deployment.airflow("dags", "trigger", WORKFLOW, "--run-id", "celery_run", "--conf", conf)

            def victim_mid_send() -> dict[str, int]:
                """worker-1 holds batches with messages claimed and in flight: the moment to kill it."""
                batches = [
                    batch
                    for (batch,) in _meta(
                        metadata.url,
                        """select rendered_map_index from task_instance where dag_id = %s and task_id = 'send_sms'
                           and state = 'running' and hostname = %s""",
                        [WORKFLOW, WORKERS[0]],
                    )
                ]
                with psycopg.connect(warehouse_url) as conn:
                    in_flight, sent = conn.execute(
                        """select count(*) filter (where status = 'sending' and batch_id = any(%s)),
                                  count(*) filter (where status = 'sent')
                           from loyalty.send_ledger where workflow_id = %s""",
                        [batches, WORKFLOW],
                    ).fetchone()
                return {"batches": len(batches), "in_flight": in_flight, "sent": sent} if in_flight else {}

            killed_while = wait_until(victim_mid_send, 600, "worker-1 mid-send", interval=0.1, logs=logs)
            deployment.kill(WORKERS[0])
            wait_until(
                lambda: _meta(
                    metadata.url,
                    "select 1 from dag_run where dag_id = %s and state in ('success', 'failed')",
                    [WORKFLOW],
                ),
                600,
                "the DAG run to finish",
                interval=2,
                logs=logs,
            )
            (run_state,) = _meta(metadata.url, "select state from dag_run where dag_id = %s", [WORKFLOW])[0]
            tries = _meta(
                metadata.url,
                """select map_index, try_number, coalesce(hostname, ''), coalesce(state, '')
                   from task_instance_history where dag_id = %(d)s and task_id = 'send_sms'
                   union all
                   select map_index, try_number, coalesce(hostname, ''), coalesce(state, '')
                   from task_instance where dag_id = %(d)s and task_id = 'send_sms'""",
                {"d": WORKFLOW},  # type: ignore[list-item]
            )
        finally:
            deployment.stop()
    with psycopg.connect(warehouse_url) as conn:
        ledger = dict(
            conn.execute(
                "select status, count(*) from loyalty.send_ledger where workflow_id = %s group by status", [WORKFLOW]
            ).fetchall()
        )
    messages = emulator_messages(emulator.url, "sms")
    yield Outcome(
        run_state=run_state,
        killed_while=killed_while,  # type: ignore[arg-type]
        tries=tries,
        ledger=ledger,
        at_provider=Counter(m["to"] for m in messages),
        planned=CUSTOMERS,
    )


def test_the_run_succeeds_after_a_worker_dies(outcome: Outcome) -> None:
    print(f"killed worker-1 holding {outcome.killed_while}; send attempts: {sorted(outcome.tries)}")
    assert outcome.killed_while["batches"] >= 1 and outcome.killed_while["in_flight"] >= 1
    assert outcome.run_state == "success"


def test_send_tasks_ran_on_both_workers(outcome: Outcome) -> None:
    hosts = Counter(host for _, _, host, _ in outcome.tries)
    assert set(WORKERS) <= set(hosts), f"send attempts by host: {dict(hosts)}"


def test_the_killed_workers_tasks_were_retried_elsewhere(outcome: Outcome) -> None:
    """A task the dead worker held fails by heartbeat timeout; its retry runs on the survivor."""
    retried = {index for index, attempt, _, _ in outcome.tries if attempt > 1}
    assert retried, "no send task needed a retry: the worker died with nothing in hand"
    for index in retried:
        final = max((t for t in outcome.tries if t[0] == index), key=lambda t: t[1])
        assert final[2] == WORKERS[1] and final[3] == "success", final


def test_every_message_sent_exactly_once(outcome: Outcome) -> None:
    duplicates = {address: n for address, n in outcome.at_provider.items() if n > 1}
    assert not duplicates, f"sent twice: {duplicates}"
    assert len(outcome.at_provider) == outcome.planned
    assert outcome.ledger == {"sent": outcome.planned}
