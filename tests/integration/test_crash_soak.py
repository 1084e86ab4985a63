"""Crash soak (`make soak`; skipped by `make test`): round after round, send tasks are killed with
SIGKILL at a random moment while the provider also answers with faults (5xx after accepting, dropped
connections, 429 storms); then every batch is retried, as Airflow retries mapped tasks. After each
round every customer has exactly one message per workflow at the emulator and every ledger row is
`sent`: nothing lost, nothing sent twice, nothing left in `sending` or `unknown`.

LOYALTY_SOAK_ROUNDS (default 0: skipped) rounds; LOYALTY_SOAK_SEED makes a run repeatable."""

from __future__ import annotations

import datetime as dt
import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest

from loyalty import ledger
from loyalty.warehouse import connect
from loyalty_dev.services import Service

from ._sends_support import (
    D0,
    channels_emulator_fixture,  # noqa: F401 - fixture
    close_clients_fixture,  # noqa: F401 - fixture
    email_client,
    emulator_messages,
    inject,
    make_audience,
    make_spec,
    no_global_holdout_fixture,  # noqa: F401 - fixture
    providers_fixture,  # noqa: F401 - fixture
    sms_client,
)

ROUNDS = int(os.environ.get("LOYALTY_SOAK_ROUNDS", "0"))
CUSTOMERS = 400
GRACE_S = 0.3  # rows claimed longer ago than this are the killed task's (live tasks heartbeat theirs)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(ROUNDS < 1, reason="crash soak: make soak (LOYALTY_SOAK_ROUNDS)"),
]

# One mapped send task: sends the given batches of one workflow, one after the other.
SEND_TASK = """
import sys
from functools import partial
sys.path.insert(0, sys.argv[5])
from loyalty import ledger
from loyalty.specs import load_spec
from loyalty.warehouse import connect
from tests.integration._sends_support import email_client, sms_client
url, spec_path, emulator_url, batches = sys.argv[1:5]
spec = load_spec(__import__("pathlib").Path(spec_path))
senders = {"email": email_client(emulator_url), "sms": sms_client(emulator_url, concurrency=4)}
for batch in batches.split(","):
    ledger.send_batch(partial(connect, url), spec, batch, senders)
"""


def _faults(emulator: str, rng: random.Random) -> None:
    """A few provider faults per channel this round (each injected fault fires once)."""
    for channel in ("email", "sms"):
        for fault, most in (({"status": 500, "after_accept": True}, 2), ({"kind": "drop", "after_accept": True}, 2)):
            if count := rng.randint(0, most):
                inject(emulator, channel=channel, count=count, **fault)
        if count := rng.randint(0, 3):
            inject(emulator, channel=channel, status=429, count=count, retry_after=1)


def _run_round(url: str, emulator: str, tmp_path: Path, rng: random.Random, number: int) -> dict[str, int]:
    httpx.post(f"{emulator}/_emulator/reset", timeout=30).raise_for_status()
    latency = {"email": {"latency_s": rng.choice([0.0, 0.02, 0.05])}, "sms": {"latency_s": rng.choice([0.0, 0.005])}}
    httpx.post(f"{emulator}/_emulator/settings", json=latency, timeout=10).raise_for_status()
    _faults(emulator, rng)
    day = D0 + dt.timedelta(days=number)
    specs = []
    for first, channel, batch_size in ((1, "email", 50), (10_001, "sms", 40)):  # apart: no priority contest
        name = f"soak_{channel}_{number}"
        specs.append(make_spec(tmp_path, name, channel, batch_size=batch_size))
        make_audience(url, name, range(first, first + CUSTOMERS), run_date=day)
    tasks: list[tuple[object, list[str]]] = []
    with psycopg.connect(url) as conn:
        for spec in specs:
            ledger.plan(conn, spec, day)
            batches = [b for channel in ledger.assign_batches(conn, spec, day).values() for b in channel]
            conn.commit()
            tasks += [(spec, batches[i::2]) for i in range(2)]  # two mapped tasks per workflow
    root = Path(__file__).resolve().parents[2]
    children = [
        subprocess.Popen(
            [sys.executable, "-c", SEND_TASK, url, str(tmp_path / f"{spec.id}.yml"), emulator, ",".join(b), str(root)],
            env={**os.environ},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for spec, b in tasks
        if b
    ]
    threshold = rng.randint(1, int(2 * CUSTOMERS * 0.9))  # kill once this many messages are out
    while any(child.poll() is None for child in children):
        if sum(len(emulator_messages(emulator, channel)) for channel in ("email", "sms")) >= threshold:
            break
        time.sleep(0.02)
    killed = 0
    for child in children:
        if child.poll() is None and rng.random() < 0.75:
            child.send_signal(signal.SIGKILL)
            killed += 1
    for child in children:
        child.wait(timeout=120)
    time.sleep(GRACE_S + 0.5)  # requests in flight when a task died reach the provider; claims go stale
    with psycopg.connect(url) as conn:
        stuck = conn.execute("select count(*) from loyalty.send_ledger where status = 'sending'").fetchone()[0]
    senders = {"email": email_client(emulator), "sms": sms_client(emulator, concurrency=4)}
    reconciled = Counter()
    for spec, batches in tasks:  # Airflow retries every failed mapped task with its batch ids
        for batch in batches:
            result = ledger.send_batch(partial(connect, url), spec, batch, senders, grace_seconds=GRACE_S)
            reconciled.update({k: result.get(f"reconciled_{k}", 0) for k in ("sent", "requeued", "unknown")})
    for spec in specs:
        channel = spec.channels()[0]
        with psycopg.connect(url) as conn:
            statuses = dict(
                conn.execute(
                    "select status, count(*) from loyalty.send_ledger where workflow_id = %s group by status",
                    [spec.id],
                ).fetchall()
            )
        at_provider = Counter(m["to"] for m in emulator_messages(emulator, channel))  # one workflow per channel
        duplicates = {address: n for address, n in at_provider.items() if n > 1}
        assert not duplicates, f"round {number}, {spec.id}: sent twice: {duplicates}"
        assert statuses == {"sent": CUSTOMERS}, f"round {number}, {spec.id}: ledger {statuses}"
        assert len(at_provider) == CUSTOMERS, f"round {number}, {spec.id}: {len(at_provider)} at the provider"
    return {"killed": killed, "tasks": len(children), "stuck": stuck, **reconciled}


def test_killed_send_tasks_never_lose_or_repeat_a_message(
    clean_warehouse: str, tmp_path: Path, channels_emulator: Service
) -> None:
    seed = int(os.environ.get("LOYALTY_SOAK_SEED", str(time.time_ns() % 100_000)))
    rng = random.Random(seed)
    totals: Counter = Counter()
    for number in range(ROUNDS):
        result = _run_round(clean_warehouse, channels_emulator.url, tmp_path, rng, number)
        totals.update(result)
        print(
            f"soak round {number + 1}/{ROUNDS}: killed {result['killed']} of {result['tasks']} send tasks, "
            f"{result['stuck']} rows left in sending; reconciled at the provider: {result['sent']} sent, "
            f"{result['requeued']} never arrived (requeued); every message exactly once"
        )
    print(f"soak seed {seed}: {ROUNDS} rounds, totals {dict(totals)}")
    assert totals["stuck"] > 0, "no kill landed mid-batch: the soak proved nothing (raise LOYALTY_SOAK_ROUNDS)"
