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
from loyalty.specs import WorkflowSpec, load_spec
from loyalty.warehouse import connect
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE as UNSUBSCRIBE
from loyalty_dev.services import Service

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
    sender = SendGridEmail(API_KEY, "loyalty@example.com", host=emulator.url, unsubscribe=UNSUBSCRIBE)
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

    def test_a_branch_is_decided_once_on_its_decision_day(
        self, clean_warehouse: str, tmp_path: Path, emulator: Service
    ) -> None:
        """The branch after welcome_1 is decided on D2 (welcome_1's run date + the 2-day wait).
        Customer 1 opens on D3, after reminder_2 went out: no engaged_2 as well. Customer 2's open on
        D1 is reported late (after D2's plan): the reminder stands, no second arm. Customer 3's
        journey is planned only on D4 (D2 and D3 were missed) and opened on D3: decided as of D2,
        it gets reminder_2, the same as an on-time plan."""
        url = clean_warehouse
        spec = _spec(tmp_path, "decided", THREE_STEPS)
        d = lambda n: D0 + dt.timedelta(days=n)  # noqa: E731
        _audience(url, "decided", D0, range(1, 3))
        for offset in range(0, 6):
            if offset == 3:
                _event(url, "decided", "welcome_1", 1, "open", d(3))
                _event(url, "decided", "welcome_1", 2, "open", d(1))  # happened on D1, reported on D3
            _day(url, spec, d(offset), emulator)
        journeys = _steps_by_customer(url, "decided")
        for customer in (1, 2):
            assert [step for step, _, _ in journeys[customer]] == ["welcome_1", "reminder_2", "final_3"], customer

        late = _spec(tmp_path, "missed", THREE_STEPS)
        _audience(url, "missed", D0, range(3, 4))
        _day(url, late, D0, emulator)
        _event(url, "missed", "welcome_1", 3, "open", d(3))
        _day(url, late, d(4), emulator)
        assert [(step, day) for step, day, _ in _steps_by_customer(url, "missed")[3]] == [
            ("welcome_1", D0),
            ("reminder_2", d(4)),
        ]


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


def _plan(url: str, spec: WorkflowSpec, day: dt.date) -> None:
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, day)


def _first_step_rows(url: str, workflow: str) -> dict[int, dt.date]:
    """customer -> the run date of their first step's ledger row."""
    return {c: rows[0][1] for c, rows in _steps_by_customer(url, workflow).items()}


WAIT_THEN_MESSAGE = [{"type": "wait", "days": 2}, {"id": "hello", "type": "message", "channel": "email"}]
MESSAGE_WAIT_MESSAGE = [
    {"id": "first", "type": "message", "channel": "email"},
    {"type": "wait", "days": 2},
    {"id": "second", "type": "message", "channel": "email"},
]


class TestPlanningWindow:
    """The daily plan reads only entries entered or due since the latest earlier completed plan
    (loyalty.completed_plans), not the workflow's history, and still misses nothing."""

    def test_history_is_not_read_again(self, clean_warehouse: str, tmp_path: Path) -> None:
        """An entry a completed plan already handled is not planned again: with its ledger row removed
        behind the plan's back, the next day's plan does not notice (it never reads that entry),
        while a plan with no completed plan before it reads everything and does."""
        url = clean_warehouse
        spec = _spec(tmp_path, "windowed", [{"id": "hello", "type": "message", "channel": "email"}])
        _audience(url, "windowed", D0, range(1, 4))
        _plan(url, spec, D0)
        with psycopg.connect(url) as conn:
            conn.execute("delete from loyalty.send_ledger where workflow_id = 'windowed' and customer_id = 2")
            assert conn.execute("select count(*) from loyalty.completed_plans").fetchone() == (1,)
        _audience(url, "windowed", D0 + dt.timedelta(days=1), range(4, 6))
        _plan(url, spec, D0 + dt.timedelta(days=1))
        assert sorted(_first_step_rows(url, "windowed")) == [1, 3, 4, 5]
        with psycopg.connect(url) as conn:
            conn.execute("delete from loyalty.completed_plans")
        _plan(url, spec, D0 + dt.timedelta(days=1))
        assert _first_step_rows(url, "windowed")[2] == D0 + dt.timedelta(days=1)

    def test_missed_days_and_late_entries_catch_up(self, clean_warehouse: str, tmp_path: Path) -> None:
        """Wait 2 days, then a message. Entries of D0 fall due on D2, but no plan runs on D1-D3: the
        plan of D4 sends them. An entry found on D5 but dated D1 (event-based entry) is due on D3,
        before the latest completed plan (D4): it is planned on D5 all the same. Reruns add nothing;
        a dry-run-style rollback records no completed plan."""
        url = clean_warehouse
        spec = _spec(tmp_path, "late", WAIT_THEN_MESSAGE, audience={"entered_on": "entered_on"})
        _audience(url, "late", D0, range(1, 3))
        _plan(url, spec, D0)
        assert _first_step_rows(url, "late") == {}
        d4, d5 = D0 + dt.timedelta(days=4), D0 + dt.timedelta(days=5)
        _audience(url, "late", d4, range(10, 11))
        _plan(url, spec, d4)
        assert _first_step_rows(url, "late") == {1: d4, 2: d4}
        _audience(url, "late", d5, range(3, 4), entered_on=D0 + dt.timedelta(days=1))
        _plan(url, spec, d5)
        _plan(url, spec, d5)
        assert _first_step_rows(url, "late") == {1: d4, 2: d4, 3: d5}  # 10 entered on D4: due on D6
        with psycopg.connect(url) as conn:
            ledger.plan(conn, spec, d5 + dt.timedelta(days=9))
            conn.rollback()
            plans = conn.execute("select run_date from loyalty.completed_plans order by run_date").fetchall()
        assert [row[0] for row in plans] == [D0, d4, d5]

    def test_later_steps_read_recent_parents_and_late_sends(
        self, clean_warehouse: str, tmp_path: Path, emulator: Service
    ) -> None:
        """message, wait 2, message. The first message, planned on D0, is not sent until D3 (its send
        tasks did not run): D4's plan still plans the second one although its due date (D2) is
        before the latest completed plan (D3) — it was sent after that plan began. A parent row
        that an earlier completed plan already handled is not read again."""
        url = clean_warehouse
        spec = _spec(tmp_path, "sent_late", MESSAGE_WAIT_MESSAGE)
        d = lambda n: D0 + dt.timedelta(days=n)  # noqa: E731
        _audience(url, "sent_late", D0, range(1, 3))
        for offset in range(0, 3):
            _plan(url, spec, d(offset))  # plans only: nothing is sent
        _day(url, spec, d(3), emulator)  # plan, then the first message goes out
        _day(url, spec, d(4), emulator)
        assert {c: [(s, day) for s, day, _ in rows] for c, rows in _steps_by_customer(url, "sent_late").items()} == {
            c: [("first", D0), ("second", d(4))] for c in (1, 2)
        }
        with psycopg.connect(url) as conn:
            conn.execute("delete from loyalty.send_ledger where step_id = 'second' and customer_id = 2")
            # a day passes: the first messages went out long before D4's plan began
            conn.execute("update loyalty.send_ledger set updated_at = now() - interval '1 day'")
        _day(url, spec, d(5), emulator)
        assert [s for s, _, _ in _steps_by_customer(url, "sent_late")[2]] == ["first"]

    def test_later_steps_fall_due_after_the_previous_plan(
        self, clean_warehouse: str, tmp_path: Path, emulator: Service
    ) -> None:
        """The first message went out on D0, days before D1's plan (its updated_at is old): D2's
        plan finds it through its due date (D0 + 2 > D1, the latest completed plan)."""
        url = clean_warehouse
        spec = _spec(tmp_path, "on_time", MESSAGE_WAIT_MESSAGE)
        _audience(url, "on_time", D0, range(1, 3))
        for offset in range(0, 3):
            with psycopg.connect(url) as conn:  # days pass between the daily runs
                conn.execute("update loyalty.send_ledger set updated_at = now() - interval '1 day'")
                conn.execute("update loyalty.completed_plans set completed_at = now() - interval '20 hours'")
            _day(url, spec, D0 + dt.timedelta(days=offset), emulator)
        journeys = _steps_by_customer(url, "on_time")
        assert {c: [(s, day) for s, day, _ in rows] for c, rows in journeys.items()} == {
            c: [("first", D0), ("second", D0 + dt.timedelta(days=2))] for c in (1, 2)
        }
