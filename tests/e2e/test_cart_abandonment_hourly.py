"""The hourly cart workflow end to end: the app posts cart events to the receiver (signed), the
`cart_abandonment` DAG runs through real Airflow at the next hour, and the real SendGrid client
sends to the emulator within the hour of each abandonment; the next hourly run sends nothing twice
and picks up the carts abandoned since.

The customer features come from a daily dbt build for today, as the warehouse DAG leaves them; the
cart audience itself is a view over the events as they arrive."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest

from loyalty import warehouse
from loyalty.dbt import run_dbt
from loyalty.webhooks import app_event_headers
from loyalty_dev import local_airflow
from loyalty_dev.demo import APP_EVENTS_SECRET, CHANNEL_POOLS, Stack, start_stack

from ..conftest import empty_app_tables, mkdir
from ._support import emulator_state

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]

ABANDONERS = range(1, 41)  # carts last touched 35 to 55 minutes ago: abandoned 5 to 25 minutes ago
STILL_SHOPPING = (41, 42)  # touched 5 minutes ago; 41's app then reports the cart abandoned
CHECKED_OUT = 43  # added, then ordered
DAG_ID = "cart_abandonment"


@dataclass
class Run:
    url: str
    stack: Stack
    first_run_at: dt.datetime


def _post_events(stack: Stack, events: list[dict]) -> dict:
    body = json.dumps({"events": events}).encode()
    response = httpx.post(
        f"{stack.receiver.url}/events/app", content=body, headers=app_event_headers(APP_EVENTS_SECRET, body), timeout=30
    )
    assert response.status_code == 200, response.text
    answer: dict = response.json()
    return answer


def _cart_event(event_id: str, customer_id: int, at: dt.datetime, event_type: str = "added_to_cart") -> dict:
    event: dict = {"event_id": event_id, "customer_id": customer_id, "event_type": event_type}
    event["occurred_at"] = at.isoformat()
    if event_type == "added_to_cart":
        event |= {"product_id": 10, "quantity": 1 + customer_id % 3, "unit_price": 19.90}
    return event


def _world(url: str) -> None:
    customers = [*ABANDONERS, *STILL_SHOPPING, CHECKED_OUT]
    with psycopg.connect(url) as conn:
        for customer_id in customers:
            conn.execute(
                """insert into raw.customers (customer_id, email, first_name, locale, timezone, signup_at,
                       email_consent)
                   values (%s, %s, 'Ana', 'en-US', 'UTC', now() - interval '200 days', true)""",
                [customer_id, f"cart{customer_id}@example.com"],
            )
        conn.execute("insert into raw.products values (10, 'Linen shirt', 'apparel', 19.90)")
        conn.execute(
            """insert into raw.orders (order_id, customer_id, ordered_at, status, order_total)
               values ('o-43', %s, now() - interval '10 minutes', 'completed', 19.90)""",
            [CHECKED_OUT],
        )
        warehouse.drop_dbt_schemas(conn)  # features built from nothing: no other test's carried-forward state
    # The day's warehouse build: customer features (consent, contactability) for today.
    run_dbt(["build", "--exclude", "resource_type:unit_test"], url, run_date=dt.datetime.now(dt.UTC).date())


@pytest.fixture(scope="module")
def run(warehouse_url: str, session_dir: Path) -> Iterator[Run]:
    empty_app_tables(warehouse_url)
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(mkdir(session_dir / "state-cart")))
    mp.setenv("LOYALTY_WAREHOUSE_URL", warehouse_url)
    _world(warehouse_url)
    with ExitStack() as stack:
        running = start_stack(stack, warehouse_url, seed=5)
        local_airflow.prepare(running.airflow_env, pools=CHANNEL_POOLS)
        now = dt.datetime.now(dt.UTC)
        events = [_cart_event(f"add-{c}", c, now - dt.timedelta(minutes=35 + (c % 21))) for c in ABANDONERS] + [
            _cart_event(f"add-{c}", c, now - dt.timedelta(minutes=5)) for c in (*STILL_SHOPPING, CHECKED_OUT)
        ]
        answer = _post_events(running, events)
        assert answer == {"received": len(events), "stored": len(events), "duplicates": 0}
        running.set_clock(now)
        first_run_at = now.replace(minute=0, second=0, microsecond=0)  # this hour's scheduled run
        local_airflow.dags_test(DAG_ID, first_run_at, running.airflow_env)
        running.flush_webhooks()
        yield Run(warehouse_url, running, first_run_at)
    mp.undo()


def _ledger(url: str) -> dict[int, tuple]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select ledger.customer_id, ledger.status, ledger.sent_at,
                      (entries.context ->> 'abandoned_at')::timestamptz, ledger.send_id
               from loyalty.send_ledger as ledger
               inner join loyalty.journey_entries as entries using (workflow_id, customer_id, cycle_key)
               where ledger.workflow_id = %s""",
            [DAG_ID],
        ).fetchall()
    found: dict[int, tuple] = {}
    for customer_id, *rest in rows:
        assert customer_id not in found, f"customer {customer_id} has two cart messages"
        found[customer_id] = tuple(rest)
    return found


def _emulated_send_ids(stack: Stack) -> list[str]:
    return [message["send_id"] for message in emulator_state(stack, "messages?channel=email")]


def test_every_abandoned_cart_gets_one_message_within_the_hour(run: Run) -> None:
    """Each abandoned cart entered once: sent (or held out), within an hour of its abandonment."""
    ledger = _ledger(run.url)
    assert set(ledger) == set(ABANDONERS)
    statuses = {status for status, *_ in ledger.values()}
    assert statuses <= {"sent", "holdout"}, statuses
    sent = {c: row for c, row in ledger.items() if row[0] == "sent"}
    assert len(sent) >= 30, "the 10% holdout kept far more than 10% back"
    for customer_id, (_, sent_at, abandoned_at, _) in sent.items():
        assert dt.timedelta(0) < sent_at - abandoned_at < dt.timedelta(hours=1), customer_id


def test_the_emulator_got_exactly_the_sent_rows(run: Run) -> None:
    """What the real SendGrid client delivered is the ledger's `sent` rows, once each."""
    sent = {row[3] for row in _ledger(run.url).values() if row[0] == "sent"}
    send_ids = _emulated_send_ids(run.stack)
    assert len(send_ids) == len(set(send_ids))
    assert set(send_ids) == sent


def test_the_next_hour_sends_only_new_abandonments(run: Run) -> None:
    """The next hourly run: the app reports 41's cart abandoned (42 is still shopping, 43 ordered);
    41 gets its message, nobody gets a second one, and a resent event batch stores nothing."""
    before = _ledger(run.url)
    now = dt.datetime.now(dt.UTC)
    reported = [_cart_event("abandon-41", 41, now, event_type="cart_abandoned")]
    assert _post_events(run.stack, reported)["stored"] == 1
    assert _post_events(run.stack, reported) == {"received": 1, "stored": 0, "duplicates": 1}
    # The next run, triggered now (a scheduled one at the next hour plans the same way; now keeps the
    # run's date the view's date even when the test runs just before midnight).
    local_airflow.dags_test(DAG_ID, dt.datetime.now(dt.UTC), run.stack.airflow_env)
    after = _ledger(run.url)
    assert set(after) == set(before) | {41}
    assert {c: after[c] for c in before} == before
    send_ids = _emulated_send_ids(run.stack)
    assert len(send_ids) == len(set(send_ids))
