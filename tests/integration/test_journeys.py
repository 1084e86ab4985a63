"""Multi-step journeys computed in SQL from the ledger and events, walked across simulated days."""

from __future__ import annotations

import datetime as dt
from functools import partial
from pathlib import Path

import psycopg
import pytest
import yaml

from loyalty import ledger
from loyalty.channels.sendgrid_email import SendGridEmail
from loyalty.services import Service
from loyalty.specs import WorkflowSpec, load_spec
from loyalty.warehouse import connect

from .conftest import API_KEY

pytestmark = pytest.mark.integration

D0 = dt.date(2026, 6, 1)
TEMPLATE = {"en": {"subject": "Hi {{ first_name }}", "body": "<p>{{ first_name }}</p>"}}


def _spec(tmp_path: Path, name: str, steps: list, **extra) -> WorkflowSpec:
    message_ids = []

    def collect(items: list) -> None:
        for item in items:
            if item["type"] == "message":
                message_ids.append(item["id"])
            collect(item.get("then", []))
            collect(item.get("else", []))

    collect(steps)
    data = {
        "id": name,
        "name": name,
        "owner": "tests",
        "description": "journey under test",
        "audience": {"model": f"eligible_{name}", **extra.pop("audience", {})},
        "experiment": {
            "salt": "s",
            "holdout_pct": 0.0,
            "variants": [{"id": "a", "weight": 1.0, "templates": dict.fromkeys(message_ids, TEMPLATE)}],
        },
        "steps": steps,
        **extra,
    }
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


def _audience(url: str, name: str, run_date: dt.date, customers: range, entered_on: dt.date | None = None) -> None:
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(f"drop table if exists marts.eligible_{name}")
        conn.execute(
            f"""create table marts.eligible_{name} as
                select customer_id, %s::date as run_date, 'c' || customer_id || '@example.com' as email,
                       true as email_consent, 'Ana' as first_name, 'en' as locale, 'cycle-1' as cycle_key,
                       %s::date as entered_on
                from generate_series(%s::int, %s::int) as customer_id""",
            [run_date, entered_on or run_date, customers.start, customers.stop - 1],
        )


def _day(url: str, spec: WorkflowSpec, day: dt.date, emulator: Service) -> None:
    """One scheduled run: plan, batch and send through the real SendGrid client."""
    sender = SendGridEmail(API_KEY, "loyalty@example.com", host=emulator.url)
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, day)
        batches = ledger.assign_batches(conn, spec, day)
    for batch in batches.get("email", []):
        ledger.send_batch(partial(connect, url), spec, batch, {"email": sender})


def _steps_by_customer(url: str, workflow: str) -> dict[int, list[tuple[str, dt.date, str]]]:
    found: dict[int, list] = {}
    with psycopg.connect(url) as conn:
        for customer, step, run_date, status in conn.execute(
            "select customer_id, step_id, run_date, status from loyalty.send_ledger where workflow_id = %s "
            "order by customer_id, run_date, step_id",
            [workflow],
        ):
            found.setdefault(customer, []).append((step, run_date, status))
    return found


def _event(url: str, workflow: str, step: str, customer: int, event_type: str, day: dt.date) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            """insert into raw.message_events (event_id, provider, send_id, event_type, occurred_at, payload)
               select 'e-' || send_id || %s, 'sendgrid', send_id, %s, %s::date + time '12:00', '{}'::jsonb
               from loyalty.send_ledger where workflow_id = %s and step_id = %s and customer_id = %s""",
            [event_type, event_type, day, workflow, step, customer],
        )


def _order(url: str, customer: int, day: dt.date) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into raw.orders (order_id, customer_id, ordered_at, status, order_total) "
            "values (%s, %s, %s::date + time '10:00', 'completed', 20)",
            [f"o-{customer}-{day}", customer, day],
        )


THREE_STEPS = [
    {"id": "welcome_1", "type": "message", "channel": "email"},
    {"type": "wait", "days": 2},
    {
        "id": "opened_welcome",
        "type": "branch",
        "when": "opened",
        "then": [{"id": "engaged_2", "type": "message", "channel": "email"}],
        "else": [{"id": "reminder_2", "type": "message", "channel": "email"}],
    },
    {"type": "wait", "days": 3},
    {"id": "final_3", "type": "message", "channel": "email"},
]


class TestThreeStepJourney:
    def test_wait_branch_on_open_and_exit_on_purchase(
        self, clean_warehouse: str, tmp_path: Path, emulator: Service
    ) -> None:
        """Day by day: step 1 at entry, step 2 after 2 days split by opens, step 3 three days
        later for everyone except the customer who bought in between; reruns add nothing."""
        url = clean_warehouse
        spec = _spec(tmp_path, "journey", THREE_STEPS, exit_on=["purchased"])
        _audience(url, "journey", D0, range(1, 7))
        for offset in range(0, 7):
            day = D0 + dt.timedelta(days=offset)
            if offset == 1:
                for customer in (1, 2, 3):
                    _event(url, "journey", "welcome_1", customer, "open", day)
            if offset == 3:
                _order(url, 5, day)
            _day(url, spec, day, emulator)
            _day(url, spec, day, emulator)  # a rerun of the same day changes nothing

        d = lambda n: D0 + dt.timedelta(days=n)  # noqa: E731
        journeys = _steps_by_customer(url, "journey")
        for customer in (1, 2, 3):
            assert journeys[customer] == [
                ("welcome_1", d(0), "sent"),
                ("engaged_2", d(2), "sent"),
                ("final_3", d(5), "sent"),
            ]
        for customer in (4, 6):
            assert journeys[customer] == [
                ("welcome_1", d(0), "sent"),
                ("reminder_2", d(2), "sent"),
                ("final_3", d(5), "sent"),
            ]
        assert journeys[5] == [("welcome_1", d(0), "sent"), ("reminder_2", d(2), "sent")]


class TestEventEntryWithWait:
    def test_wait_counts_from_the_event_not_the_run(
        self, clean_warehouse: str, tmp_path: Path, emulator: Service
    ) -> None:
        """An event-entered journey that starts with a wait (Dittofeed #1463): customers who
        ordered on D0-1 are eligible only on D0, yet their message goes out on D0-1+3 = D2."""
        url = clean_warehouse
        steps = [{"type": "wait", "days": 3}, {"id": "thanks", "type": "message", "channel": "email"}]
        spec = _spec(tmp_path, "post_purchase", steps, audience={"entered_on": "entered_on"})
        _audience(url, "post_purchase", D0, range(1, 4), entered_on=D0 - dt.timedelta(days=1))
        for offset in range(0, 4):
            _day(url, spec, D0 + dt.timedelta(days=offset), emulator)
        journeys = _steps_by_customer(url, "post_purchase")
        assert journeys == {c: [("thanks", D0 + dt.timedelta(days=2), "sent")] for c in (1, 2, 3)}


class TestUntilEvent:
    def test_next_step_waits_for_a_click_within_max_days(
        self, clean_warehouse: str, tmp_path: Path, emulator: Service
    ) -> None:
        """`wait until clicked (max 3 days)`: a click on day 2 releases the follow-up on day 2;
        without a click the customer never gets it."""
        url = clean_warehouse
        steps = [
            {"id": "offer", "type": "message", "channel": "email"},
            {"type": "wait", "until": "clicked", "max_days": 3},
            {"id": "follow_up", "type": "message", "channel": "email"},
        ]
        spec = _spec(tmp_path, "clicky", steps)
        _audience(url, "clicky", D0, range(1, 3))
        for offset in range(0, 6):
            day = D0 + dt.timedelta(days=offset)
            if offset == 2:
                _event(url, "clicky", "offer", 1, "click", day)
            _day(url, spec, day, emulator)
        journeys = _steps_by_customer(url, "clicky")
        assert [step for step, _, _ in journeys[1]] == ["offer", "follow_up"]
        assert journeys[1][1][1] == D0 + dt.timedelta(days=2)
        assert [step for step, _, _ in journeys[2]] == ["offer"]
