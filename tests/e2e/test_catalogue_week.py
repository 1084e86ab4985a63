"""A week of the whole shipped catalogue through Airflow, on every channel, checked at the provider emulator.

Each simulated day runs the warehouse DAG and every workflow DAG (real Airflow runs, one process a day:
loyalty_dev.dag_runs), sends through the real SendGrid, Twilio and FCM clients to the emulator, and its
signed webhooks flow back through the receiver. The program config is tight on purpose (one message per
customer in any three days, two days' validity) so deferral and expiry happen; the emulator's SMS
delivery rate is lowered so permanent SMS failures, and the fallback after them, happen. On day three
three customers who got an SMS reply STOP, PARAR and CANCELAR.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psycopg
import pytest

from loyalty import report
from loyalty.ledger import DEAD_ADDRESS_REASONS
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import compile_journey, load_spec, spec_paths
from loyalty.unsubscribe import UnsubscribeLinks
from loyalty_dev import local_airflow
from loyalty_dev.demo import CHANNEL_POOLS, DemoConfig, Stack, prepare_world, start_stack, world_moves
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE_SECRET
from loyalty_dev.simulation import GeneratorConfig

from ..conftest import empty_app_tables, mkdir
from ._support import emulator_state

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]

CONFIG = DemoConfig(GeneratorConfig(customers=3_000, seed=31, campaign_days=7), run_every_days=1)
PROGRAM = """
contact_policy:
  frequency_cap: {max_messages: 1, per_days: 3}
  defer_days: 2
global_holdout: {pct: 0.02}
"""
OPT_OUT_WORDS = ("STOP", "PARAR", "CANCELAR")
OPT_OUT_DAY = 2  # the third day, before its runs


@dataclass
class Week:
    url: str
    stack: Stack
    opted_out: dict[str, tuple[str, dt.datetime]] = field(default_factory=dict)  # phone -> (word, when)

    def rows(self, query: str, params: list | None = None) -> list[tuple]:
        with psycopg.connect(self.url) as conn:
            return conn.execute(query, params).fetchall()


def _opt_out(week: Week, moment: dt.datetime) -> None:
    """Three customers who were texted reply with an opt-out keyword, one each (Portuguese included)."""
    phones = [
        phone
        for (phone,) in week.rows(
            "select distinct recipient from loyalty.send_ledger where channel = 'sms' and status = 'sent' "
            "order by recipient limit 3"
        )
    ]
    assert len(phones) == len(OPT_OUT_WORDS), "no SMS went out before the opt-out day"
    for phone, word in zip(phones, OPT_OUT_WORDS, strict=True):
        response = httpx.post(
            f"{week.stack.emulator.url}/_emulator/sms/inbound",
            json={"from": phone, "to": "+15005550006", "body": word.lower() + "."},
            timeout=10,
        )
        response.raise_for_status()
        week.opted_out[phone] = (word, moment)
    week.stack.flush_webhooks()


@pytest.fixture(scope="module")
def week(warehouse_url: str, session_dir: Path) -> Iterator[Week]:
    empty_app_tables(warehouse_url)
    state = mkdir(session_dir / "state-week")
    program = state / "program.yml"
    program.write_text(PROGRAM)
    mp = pytest.MonkeyPatch()
    mp.setenv("LOYALTY_STATE_DIR", str(state))
    mp.setenv("LOYALTY_WAREHOUSE_URL", warehouse_url)
    mp.setenv("LOYALTY_PROGRAM_FILE", str(program))
    prepare_world(warehouse_url, CONFIG, progress=lambda line: None)
    workflow_dags = [load_spec(path).id for path in spec_paths(WORKFLOWS_DIR)]
    with ExitStack() as stack:
        running = start_stack(stack, warehouse_url, CONFIG.generator.seed)
        settings = {"sms": {"delivery_rate": 0.8, "unsubscribe_rate": 0.0}}
        httpx.post(f"{running.emulator.url}/_emulator/settings", json=settings, timeout=10).raise_for_status()
        local_airflow.prepare(running.airflow_env, pools=CHANNEL_POOLS)
        found = Week(warehouse_url, running)
        for number, day in enumerate(CONFIG.run_days()):
            world_moves(running, CONFIG, day)
            morning = dt.datetime.combine(day, dt.time(9), tzinfo=dt.UTC)
            running.set_clock(morning)
            if number == OPT_OUT_DAY:
                _opt_out(found, morning)
            local_airflow.dags_test_many(["loyalty_warehouse", *workflow_dags], day, running.airflow_env)
            running.flush_webhooks()
        end = CONFIG.generator.horizon_end
        world_moves(running, CONFIG, end)
        local_airflow.dags_test("loyalty_metrics", end, running.airflow_env)
        yield found
    mp.undo()


def test_every_channel_carried_messages_and_each_reached_the_provider_once(week: Week) -> None:
    sent = {
        send_id: channel
        for send_id, channel in week.rows(
            "select send_id, channel from loyalty.send_ledger where status = 'sent' and channel <> 'reward'"
        )
    }
    at_provider: dict[str, int] = {}
    for channel in ("email", "sms", "push"):
        for message in emulator_state(week.stack, f"messages?channel={channel}"):
            at_provider[message["send_id"]] = at_provider.get(message["send_id"], 0) + 1
    assert set(sent.values()) == {"email", "sms", "push"}
    assert set(at_provider) == set(sent)
    assert set(at_provider.values()) == {1}


def test_every_email_carries_the_one_click_unsubscribe(week: Week) -> None:
    links = UnsubscribeLinks(week.stack.receiver.url, LOCAL_UNSUBSCRIBE_SECRET, "unsubscribe@example.com")
    emails = emulator_state(week.stack, "messages?channel=email")
    assert {message["categories"][1] for message in emails} >= {"win_back", "birthday_reward"}
    for message in emails:
        assert message["headers"] == links.headers(message["send_id"]), message["categories"]
        assert f"href='{links.url(message['send_id'])}'" in message["html"], message["categories"]


def test_nothing_reaches_a_number_after_stop_parar_or_cancelar(week: Week) -> None:
    reasons = dict(
        week.rows("select address, reason from loyalty.contactability where channel = 'sms' and not is_contactable")
    )
    for phone, (word, moment) in week.opted_out.items():
        assert reasons.get(phone) == f"sms_keyword_{word.lower()}", (phone, reasons.get(phone))
        later = [
            message
            for message in emulator_state(week.stack, f"messages?channel=sms&to={phone.replace('+', '%2B')}")
            if dt.datetime.fromisoformat(message["sent_at"]) >= moment
        ]
        assert later == [], (word, later)
        attempts = week.rows(
            "select status from loyalty.send_ledger where channel = 'sms' and recipient = %s and run_date >= %s "
            "and status in ('pending', 'sending', 'sent', 'failed', 'unknown')",
            [phone, moment.date()],
        )
        assert attempts == [], (word, attempts)


def test_a_dead_address_falls_back_once(week: Week) -> None:
    """Each fallback (channel_attempt 2) follows a first message whose address proved dead, on another channel;
    at most one fallback per step, customer and cycle (the key's channel_attempt is 1 or 2)."""
    fallbacks = week.rows(
        """select first.channel, fallback.channel, verdict.reason
           from loyalty.send_ledger as fallback
           inner join loyalty.send_ledger as first
               on first.workflow_id = fallback.workflow_id and first.step_id = fallback.step_id
               and first.customer_id = fallback.customer_id and first.cycle_key = fallback.cycle_key
               and first.channel_attempt = 1
           left join loyalty.contactability as verdict
               on verdict.channel = first.channel
               and verdict.address = case first.channel when 'email' then lower(first.recipient)
                                                        else first.recipient end
           where fallback.channel_attempt = 2"""
    )
    assert fallbacks, "no fallback happened: the week should have had permanent SMS failures"
    for first_channel, fallback_channel, reason in fallbacks:
        assert fallback_channel != first_channel
        assert reason in DEAD_ADDRESS_REASONS, reason


def test_deferred_messages_go_out_later_within_their_window_and_expire_otherwise(week: Week) -> None:
    """Over the program's cap, first messages wait: some went out on a later day than their entry, none after
    its validity window; the ones that never fitted expired and never reached the provider."""
    first_steps = [
        (spec.id, action.step_id)
        for spec in map(load_spec, spec_paths(WORKFLOWS_DIR))
        for action in compile_journey(spec)
        if not action.parents and action.kind == "message" and action.delay_days == 0
    ]
    released = week.rows(
        """select ledger.run_date, entry.run_date, ledger.valid_until
           from loyalty.send_ledger as ledger
           inner join loyalty.journey_entries as entry
               on entry.workflow_id = ledger.workflow_id and entry.customer_id = ledger.customer_id
               and entry.cycle_key = ledger.cycle_key
           where ledger.status = 'sent' and ledger.run_date > entry.run_date and ledger.channel_attempt = 1
               and (ledger.workflow_id, ledger.step_id) in (select * from unnest(%s::text[], %s::text[]))""",
        [[w for w, _ in first_steps], [s for _, s in first_steps]],
    )
    assert released, "no deferred message was sent on a later day"
    late = week.rows("select send_id from loyalty.send_ledger where status = 'sent' and run_date > valid_until")
    assert late == []
    expired = {
        send_id
        for (send_id,) in week.rows("select send_id from loyalty.send_ledger where status_reason like 'expired:%%'")
    }
    assert expired, "nothing expired under a cap of one message in three days"
    at_provider = {
        m["send_id"]
        for channel in ("email", "sms", "push")
        for m in emulator_state(week.stack, f"messages?channel={channel}")
    }
    assert not expired & at_provider


def test_the_report_shows_each_channels_rates(week: Week) -> None:
    with psycopg.connect(week.url) as conn:
        channels = report.fetch_channels(conn)
    by_channel: dict[str, int] = {}
    for row in channels:
        by_channel[row["channel"]] = by_channel.get(row["channel"], 0) + row["delivered"]
        if row["sent"]:
            assert 0 < row["delivered_per_sent"] <= 1, row
    assert all(by_channel.get(channel, 0) > 0 for channel in ("email", "sms", "push")), by_channel
