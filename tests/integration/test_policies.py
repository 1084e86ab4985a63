"""Contact policies, applied in SQL before anything is sent, each with its reason on the row:
global suppression, frequency cap and priority (deferred within the step's validity window, then
expired), quiet hours (deferred, not dropped), global holdout, all configurable in the program file."""

from __future__ import annotations

import datetime as dt
import json
from functools import partial
from pathlib import Path

import httpx
import psycopg
import pytest

from loyalty import ledger
from loyalty.assignment import GlobalHoldout, global_holdout
from loyalty.warehouse import connect
from loyalty.webhooks.store import EventStore
from loyalty_dev.services import Service

from ._sends_support import (
    D0,
    TEMPLATE,
    channels_emulator_fixture,  # noqa: F401 - fixture
    clients,
    close_clients_fixture,  # noqa: F401 - fixture
    emulator_messages,
    ledger_rows,
    make_audience,
    make_spec,
    no_global_holdout_fixture,  # noqa: F401 - fixture
    providers_fixture,  # noqa: F401 - fixture
    use_program,
)

pytestmark = pytest.mark.integration


def plan(url: str, spec, day: dt.date = D0) -> None:
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, day)


def statuses(url: str, workflow_id: str) -> dict[int, tuple[str, str | None]]:
    return {c: (r[0], r[1]) for c, r in ledger_rows(url, workflow_id).items()}


class TestSuppression:
    def test_unsubscribed_address_is_suppressed_or_falls_back(self, clean_warehouse: str, tmp_path: Path) -> None:
        """An email the receiver marked non-contactable (any case) is suppressed with reason
        global_suppression; with a fallback order the customer gets the next channel instead."""
        url = clean_warehouse
        with psycopg.connect(url) as conn:
            conn.execute(
                """insert into loyalty.contactability (channel, address, is_contactable, reason, source_event_id,
                       changed_at)
                   values ('email', 'c2@example.com', false, 'email_unsubscribe', 'e-1', now()),
                          ('email', 'c3@example.com', true, 'email_group_resubscribe', 'e-2', now())"""
            )
        only_email = make_spec(tmp_path, "mail_only", "email")
        make_audience(url, "mail_only", range(1, 4), email="'C' || customer_id || '@Example.com'")
        plan(url, only_email)
        assert statuses(url, "mail_only") == {
            1: ("pending", None),
            2: ("suppressed", "global_suppression"),
            3: ("pending", None),  # resubscribed: contactable again
        }
        fallback = make_spec(tmp_path, "mail_then_sms", ["email", "sms"])
        make_audience(url, "mail_then_sms", range(1, 4), run_date=D0 + dt.timedelta(days=1))
        plan(url, fallback, D0 + dt.timedelta(days=1))
        assert {c: r[2] for c, r in ledger_rows(url, "mail_then_sms").items()} == {1: "email", 2: "sms", 3: "email"}

    def test_the_preferred_channel_goes_first_then_the_order(self, clean_warehouse: str, tmp_path: Path) -> None:
        """[preferred, email, sms]: a customer who engages by SMS gets SMS; one preferring email, one preferring a
        channel the step does not use (push) and one without a preference get the order's first; one preferring
        SMS without SMS consent falls back to the order; one whose preferred address is suppressed too."""
        url = clean_warehouse
        with psycopg.connect(url) as conn:
            conn.execute(
                """insert into loyalty.contactability (channel, address, is_contactable, reason, source_event_id,
                       changed_at)
                   values ('sms', '+15550000006', false, 'sms_keyword_parar', 'e-1', now())"""
            )
        spec = make_spec(tmp_path, "preferring", ["preferred", "email", "sms"])
        preferences = "(array['sms', 'email', 'push', null, 'sms', 'sms'])[customer_id]"
        make_audience(url, "preferring", range(1, 7), preferred_channel=preferences, sms_consent="customer_id <> 5")
        plan(url, spec)
        channels = {customer: row[2] for customer, row in ledger_rows(url, "preferring").items()}
        assert channels == {1: "sms", 2: "email", 3: "email", 4: "email", 5: "email", 6: "email"}

    def test_no_consent_anywhere(self, clean_warehouse: str, tmp_path: Path) -> None:
        """Consent per channel: nobody is messaged on a channel they did not consent to."""
        url = clean_warehouse
        spec = make_spec(tmp_path, "consent", ["sms", "push"])
        make_audience(url, "consent", range(1, 3), sms_consent="customer_id = 1", push_consent="false")
        plan(url, spec)
        assert statuses(url, "consent") == {1: ("pending", None), 2: ("suppressed", "no_consented_channel")}


class TestFrequencyCap:
    def test_cap_counts_messages_of_every_workflow_in_the_window(self, clean_warehouse: str, tmp_path: Path) -> None:
        """Cap 2 per 7 days: customers who already have two messages (of any workflows) in the
        window are deferred; one from 7 days ago has left the window."""
        url = clean_warehouse
        for offset, name in ((-7, "old"), (-3, "recent_a"), (-1, "recent_b")):
            day = D0 + dt.timedelta(days=offset)
            customers = range(1, 4) if name != "recent_b" else range(1, 2)
            make_audience(url, name, customers, run_date=day)
            plan(url, make_spec(tmp_path, name, "email"), day)
        capped = make_spec(tmp_path, "capped", "email", policies={"frequency_cap": {"max_messages": 2, "per_days": 7}})
        make_audience(url, "capped", range(1, 5))
        plan(url, capped)
        assert statuses(url, "capped") == {
            1: ("deferred", "frequency_cap"),  # recent_a + recent_b
            2: ("pending", None),  # recent_a only (old is 7 days back: outside)
            3: ("pending", None),
            4: ("pending", None),
        }


class TestPriority:
    def test_higher_priority_preempts_a_pending_lower_one(self, clean_warehouse: str, tmp_path: Path) -> None:
        """Low plans first, high the same day: high's rows are pending, low's become deferred
        (lower_priority); planned the other way round, low is deferred at once."""
        url = clean_warehouse
        low = make_spec(tmp_path, "promo_low", "email", policies={"priority": 10})
        high = make_spec(tmp_path, "save_high", "email", policies={"priority": 90})
        make_audience(url, "promo_low", range(1, 4))
        make_audience(url, "save_high", range(2, 6))
        plan(url, low)
        plan(url, high)
        assert statuses(url, "promo_low") == {
            1: ("pending", None),
            2: ("deferred", "lower_priority"),
            3: ("deferred", "lower_priority"),
        }
        assert {s for s, _ in statuses(url, "save_high").values()} == {"pending"}
        later = D0 + dt.timedelta(days=1)
        make_audience(url, "promo_low", range(1, 4), run_date=later)
        make_audience(url, "save_high", range(2, 6), run_date=later)
        with psycopg.connect(url) as conn:
            conn.execute("truncate loyalty.send_ledger, loyalty.journey_entries, loyalty.completed_plans")
        plan(url, high, later)
        plan(url, low, later)
        assert statuses(url, "promo_low")[2] == ("deferred", "lower_priority")
        assert statuses(url, "promo_low")[1] == ("pending", None)

    def test_a_holdout_row_holds_the_day_like_its_message(self, clean_warehouse: str, tmp_path: Path) -> None:
        """Half of high's customers are held out: they lose low's message exactly like the treated half
        (in either planning order), so high's holdout comparison measures its own message and not the
        messages it crowds out (an A/A workflow stays at zero lift)."""
        url = clean_warehouse
        high_spec = {
            "salt": "s",
            "holdout_pct": 0.5,
            "variants": [{"id": "a", "weight": 1.0, "templates": {"hello": TEMPLATE}}],
        }
        for order, day in (("low_first", D0), ("high_first", D0 + dt.timedelta(days=1))):
            with psycopg.connect(url) as conn:
                conn.execute("truncate loyalty.send_ledger, loyalty.journey_entries, loyalty.completed_plans")
            low = make_spec(tmp_path, "promo_low", "email", policies={"priority": 10})
            high = make_spec(tmp_path, "survey_high", "email", policies={"priority": 90}, experiment=high_spec)
            make_audience(url, "promo_low", range(1, 41), run_date=day)
            make_audience(url, "survey_high", range(1, 41), run_date=day)
            for spec in (low, high) if order == "low_first" else (high, low):
                plan(url, spec, day)
            high_rows = statuses(url, "survey_high")
            held = {c for c, (status, _) in high_rows.items() if status == "holdout"}
            assert 5 < len(held) < 35, order
            assert statuses(url, "promo_low") == dict.fromkeys(range(1, 41), ("deferred", "lower_priority")), order

    def test_a_message_already_out_is_never_taken_back(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """Low was sent in the morning; high planned later that day is deferred instead."""
        emulator = channels_emulator
        url = clean_warehouse
        low = make_spec(tmp_path, "sent_low", "email", policies={"priority": 10})
        high = make_spec(tmp_path, "late_high", "email", policies={"priority": 90})
        make_audience(url, "sent_low", range(1, 3))
        make_audience(url, "late_high", range(1, 3))
        plan(url, low)
        with psycopg.connect(url) as conn:
            (batch,) = ledger.assign_batches(conn, low, D0)["email"]
        ledger.send_batch(partial(connect, url), low, batch, clients(emulator.url))
        plan(url, high)
        assert {s for s, _ in statuses(url, "sent_low").values()} == {"sent"}
        assert set(statuses(url, "late_high").values()) == {("deferred", "lower_priority")}


def day(offset: int) -> dt.date:
    return D0 + dt.timedelta(days=offset)


class TestDeferral:
    def test_over_the_cap_waits_for_a_day_it_fits_then_expires(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """Cap 1 per 2 days; `busy` messaged customers 1-3 on D0. `patient` (3 days' validity) defers them on
        D0, keeps them waiting on D0+1 (busy's message is still in the window) and releases them on D0+2, the
        first day they fit: pending with that run date, batched and sent once. `hasty` (valid 1 day) expires
        its waiting rows on D0+2 (reason expired:frequency_cap): never sent late. Customer 4 was free on D0."""
        url = clean_warehouse
        cap = {"frequency_cap": {"max_messages": 1, "per_days": 2}, "priority": 50}
        make_audience(url, "busy", range(1, 4))
        plan(url, make_spec(tmp_path, "busy", "email", policies={"priority": 90}))
        patient = make_spec(tmp_path, "patient", "sms", policies={**cap, "priority": 60})
        hasty_steps = [{"id": "hello", "type": "message", "channel": "push", "valid_days": 1}]
        hasty = make_spec(tmp_path, "hasty", "push", policies=cap, steps=hasty_steps)
        make_audience(url, "patient", range(1, 5))
        make_audience(url, "hasty", range(1, 4))
        for offset in range(3):
            plan(url, patient, day(offset))
            plan(url, hasty, day(offset))
            if offset < 2:
                assert statuses(url, "patient") == {
                    **dict.fromkeys((1, 2, 3), ("deferred", "frequency_cap")),
                    4: ("pending", None),
                }
        # D0+2: busy's D0 message has left patient's window; hasty's window ended the day before.
        assert statuses(url, "patient") == dict.fromkeys(range(1, 5), ("pending", None))
        assert statuses(url, "hasty") == dict.fromkeys((1, 2, 3), ("suppressed", "expired:frequency_cap"))
        with psycopg.connect(url) as conn:
            run_dates = dict(
                conn.execute(
                    "select customer_id, run_date from loyalty.send_ledger where workflow_id = 'patient'"
                ).fetchall()
            )
            assert run_dates == {1: day(2), 2: day(2), 3: day(2), 4: D0}
            assert ledger.assign_batches(conn, hasty, day(2))["push"] == []
            batches = ledger.assign_batches(conn, patient, day(2))["sms"]
        for batch in batches:
            ledger.send_batch(partial(connect, url), patient, batch, clients(channels_emulator.url))
        recipients = sorted(m["to"] for m in emulator_messages(channels_emulator.url, "sms"))
        assert recipients == [f"+1555{c:07d}" for c in range(1, 5)]
        assert emulator_messages(channels_emulator.url, "push") == []
        plan(url, patient, day(3))  # a later plan changes nothing that was sent
        assert {s for s, _ in statuses(url, "patient").values()} == {"sent"}

    def test_outranked_then_sent_the_next_day_unless_unsubscribed(self, clean_warehouse: str, tmp_path: Path) -> None:
        """High takes customers 1-3's D0 from low: low's rows wait (lower_priority). On D0+1 high has nothing for
        them, so they are pending on D0+1, except customer 2, whose address was unsubscribed while waiting
        (global_suppression). With valid_days 0 a loser is suppressed at once, as before deferral existed."""
        url = clean_warehouse
        low = make_spec(tmp_path, "promo_low", "email", policies={"priority": 10})
        high = make_spec(tmp_path, "save_high", "email", policies={"priority": 90})
        make_audience(url, "promo_low", range(1, 4))
        make_audience(url, "save_high", range(1, 4))
        plan(url, low)
        plan(url, high)
        assert set(statuses(url, "promo_low").values()) == {("deferred", "lower_priority")}
        with psycopg.connect(url) as conn:
            conn.execute(
                """insert into loyalty.contactability (channel, address, is_contactable, reason, source_event_id,
                       changed_at)
                   values ('email', 'c2@example.com', false, 'email_unsubscribe', 'e-1', now())"""
            )
        plan(url, high, day(1))
        plan(url, low, day(1))
        assert statuses(url, "promo_low") == {
            1: ("pending", None),
            2: ("suppressed", "global_suppression"),
            3: ("pending", None),
        }
        strict_steps = [{"id": "hello", "type": "message", "channel": "email", "valid_days": 0}]
        strict = make_spec(tmp_path, "strict_low", "email", policies={"priority": 10}, steps=strict_steps)
        make_audience(url, "strict_low", range(1, 5), run_date=day(1))
        plan(url, strict, day(1))
        assert statuses(url, "strict_low") == {
            1: ("suppressed", "lower_priority"),  # promo_low's released row holds the day (same priority, lower id)
            2: ("suppressed", "global_suppression"),
            3: ("suppressed", "lower_priority"),
            4: ("pending", None),
        }

    def test_the_program_cap_applies_to_every_marketing_workflow(
        self, clean_warehouse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """program.yml's cap (1 per 7 days) holds a workflow without a cap of its own; a transactional workflow
        is not capped by it; a workflow's own cap wins."""
        use_program(monkeypatch, tmp_path, "contact_policy:\n  frequency_cap: {max_messages: 1, per_days: 7}\n")
        url = clean_warehouse
        make_audience(url, "first", range(1, 3))
        plan(url, make_spec(tmp_path, "first", "email"))
        for name, extra, expected in (
            ("marketing", {}, ("deferred", "frequency_cap")),
            ("receipt", {"category": "transactional"}, ("pending", None)),
            ("own_cap", {"policies": {"frequency_cap": {"max_messages": 3, "per_days": 7}}}, ("pending", None)),
        ):
            make_audience(url, name, range(1, 2), run_date=day(1))
            plan(url, make_spec(tmp_path, name, "email", **extra), day(1))
            assert statuses(url, name) == {1: expected}, name


def send_all(url: str, spec, run_date: dt.date, emulator_url: str) -> None:
    with psycopg.connect(url) as conn:
        batches = ledger.assign_batches(conn, spec, run_date)
    for channel_batches in batches.values():
        for batch in channel_batches:
            ledger.send_batch(partial(connect, url), spec, batch, clients(emulator_url))


def rows_by_attempt(url: str, workflow_id: str) -> dict[tuple[int, int], tuple[str, str]]:
    """(customer, channel attempt) -> (channel, status)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select customer_id, channel_attempt, channel, status from loyalty.send_ledger
               where workflow_id = %s""",
            [workflow_id],
        ).fetchall()
    return {(customer, attempt): (channel, status) for customer, attempt, channel, status in rows}


class TestFallback:
    def test_a_dead_address_falls_back_once_to_the_next_channel(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """Order [email, sms, push]. After D0's sends: customer 1's email hard-bounces (the receiver stores the
        event), customer 2's number is invalid (Twilio 21211), customer 3's app was deleted (FCM UNREGISTERED),
        customer 4 unsubscribes (an opt-out: never a fallback), customer 5 is fine. D0+1's plan gives 1 an SMS
        and 2 a push (channel_attempt 2, never the failed channel); 3 has no other channel we may use, so
        nothing. 2's push fails too: no third attempt, ever. Every address got at most one message."""
        url, emulator = clean_warehouse, channels_emulator.url
        spec = make_spec(tmp_path, "rescue", ["email", "sms", "push"])
        make_audience(
            url,
            "rescue",
            range(1, 6),
            email_consent="customer_id not in (2, 3)",
            sms_consent="customer_id <> 3",
            phone="case when customer_id = 2 then '12345' else '+1555' || lpad(customer_id::text, 7, '0') end",
        )
        httpx.post(f"{emulator}/_emulator/push/tokens", json={"unregister": ["token-2", "token-3"]}).raise_for_status()
        plan(url, spec)
        send_all(url, spec, D0, emulator)
        assert rows_by_attempt(url, "rescue") == {
            (1, 1): ("email", "sent"),
            (2, 1): ("sms", "failed"),
            (3, 1): ("push", "failed"),
            (4, 1): ("email", "sent"),
            (5, 1): ("email", "sent"),
        }
        send_ids = {customer: row[4] for customer, row in ledger_rows(url, "rescue").items()}
        events = [
            {"event": "bounce", "type": "bounce", "email": "c1@example.com", "sg_event_id": "ev-bounce-1"},
            {"event": "unsubscribe", "email": "c4@example.com", "sg_event_id": "ev-unsub-4"},
        ]
        store = EventStore(url)
        try:
            for event, customer in zip(events, (1, 4), strict=True):
                record = {
                    **event,
                    "timestamp": 1780300000,
                    "sg_message_id": f"m{customer}",
                    "send_id": send_ids[customer],
                }
                store.ingest_sendgrid(json.dumps([record]))
        finally:
            store.close()
        for offset in (1, 2, 3):
            plan(url, spec, day(offset))
            send_all(url, spec, day(offset), emulator)
        assert rows_by_attempt(url, "rescue") == {
            (1, 1): ("email", "sent"),
            (1, 2): ("sms", "sent"),
            (2, 1): ("sms", "failed"),
            (2, 2): ("push", "failed"),
            (3, 1): ("push", "failed"),
            (4, 1): ("email", "sent"),
            (5, 1): ("email", "sent"),
        }
        assert sorted(m["to"] for m in emulator_messages(emulator, "sms")) == ["+15550000001"]
        emails = sorted(m["to"] for m in emulator_messages(emulator, "email"))
        assert emails == ["c1@example.com", "c4@example.com", "c5@example.com"]

    def test_the_journey_goes_on_from_the_fallback(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """hello [email, sms], a day's wait, then again: customer 1's email bounces, so their next step waits a day
        after the SMS fallback (planned D0+2), not after the bounced email (D0+1, as customer 2's)."""
        url, emulator = clean_warehouse, channels_emulator.url
        steps = [
            {"id": "hello", "type": "message", "channel": ["email", "sms"]},
            {"type": "wait", "days": 1},
            {"id": "again", "type": "message", "channel": "sms"},
        ]
        experiment = {
            "salt": "s",
            "holdout_pct": 0.0,
            "variants": [{"id": "a", "weight": 1.0, "templates": {"hello": TEMPLATE, "again": TEMPLATE}}],
        }
        spec = make_spec(tmp_path, "onward", "email", steps=steps, experiment=experiment)
        make_audience(url, "onward", range(1, 3))
        plan(url, spec)
        send_all(url, spec, D0, emulator)
        bounce = {"event": "bounce", "type": "bounce", "email": "c1@example.com", "sg_event_id": "ev-bounce-1"}
        bounce |= {"timestamp": 1780300000, "sg_message_id": "m1", "send_id": ledger_rows(url, "onward")[1][4]}
        store = EventStore(url)
        try:
            store.ingest_sendgrid(json.dumps([bounce]))
        finally:
            store.close()
        for offset in (1, 2):
            plan(url, spec, day(offset))
            send_all(url, spec, day(offset), emulator)
        with psycopg.connect(url) as conn:
            planned = conn.execute(
                """select customer_id, step_id, channel_attempt, channel, run_date, status from loyalty.send_ledger
                   where workflow_id = 'onward' order by customer_id, run_date, step_id"""
            ).fetchall()
        assert planned == [
            (1, "hello", 1, "email", D0, "sent"),
            (1, "hello", 2, "sms", day(1), "sent"),
            (1, "again", 1, "sms", day(2), "sent"),
            (2, "hello", 1, "email", D0, "sent"),
            (2, "again", 1, "sms", day(1), "sent"),
        ]


class TestQuietHours:
    def test_sms_in_quiet_hours_is_deferred_then_sent(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """Quiet 21:00-08:00 local. At 02:00 UTC it is 23:00 in São Paulo (deferred to 08:00 local
        = 11:00 UTC, still pending) and 11:00 in Tokyo (sent). A later attempt at 11:30 UTC sends
        the deferred rows; nothing is dropped or sent twice."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "quiet", "sms", policies={"quiet_hours": {"start": "21:00", "end": "08:00"}})
        zone = "case when customer_id %% 2 = 0 then 'America/Sao_Paulo' else 'Asia/Tokyo' end"
        make_audience(url, "quiet", range(1, 7), timezone=zone)
        plan(url, spec)
        with psycopg.connect(url) as conn:
            (batch,) = ledger.assign_batches(conn, spec, D0)["sms"]
        night = dt.datetime(2026, 6, 2, 2, 0, tzinfo=dt.UTC)
        senders = clients(emulator.url)
        first = ledger.send_batch(partial(connect, url), spec, batch, senders, now=night)
        assert (first["sent"], first["deferred"]) == (3, 3)
        with psycopg.connect(url) as conn:
            deferred = conn.execute(
                """select customer_id, status, status_reason, not_before from loyalty.send_ledger
                   where status = 'pending'"""
            ).fetchall()
        assert sorted(c for c, *_ in deferred) == [2, 4, 6]
        assert {(s, r, nb) for _, s, r, nb in deferred} == {
            ("pending", "quiet_hours", dt.datetime(2026, 6, 2, 11, 0, tzinfo=dt.UTC))
        }
        too_early = ledger.send_batch(partial(connect, url), spec, batch, senders, now=night + dt.timedelta(hours=8))
        assert too_early["sent"] == 0
        morning = ledger.send_batch(partial(connect, url), spec, batch, senders, now=night + dt.timedelta(hours=9.5))
        assert morning["sent"] == 3
        recipients = [m["to"] for m in emulator_messages(emulator.url, "sms")]
        assert len(recipients) == len(set(recipients)) == 6


class TestGlobalHoldout:
    def test_shared_by_every_workflow_and_matches_python(
        self, clean_warehouse: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With a 30% global holdout, the same customers are held out of two workflows (reason
        global_holdout), about 30% of them, exactly those loyalty.assignment names."""
        use_program(monkeypatch, tmp_path, "global_holdout:\n  pct: 0.3\n")
        url = clean_warehouse
        held: list[set[int]] = []
        for offset, name in enumerate(("first_flow", "second_flow")):
            day = D0 + dt.timedelta(days=offset)
            make_audience(url, name, range(1, 1001), run_date=day)
            plan(url, make_spec(tmp_path, name, "email"), day)
            rows = statuses(url, name)
            held.append({c for c, (status, _) in rows.items() if status == "holdout"})
            assert {reason for c, (_, reason) in rows.items() if c in held[-1]} == {"global_holdout"}
        assert held[0] == held[1]
        assert abs(len(held[0]) / 1000 - 0.3) < 0.05
        expected = global_holdout()
        assert expected == GlobalHoldout(0.3, expected.salt)
        assert held[0] == {c for c in range(1, 1001) if expected.holds(c)}


def entries(url: str, workflow_id: str) -> dict[int, list[str]]:
    """customer -> the cycles they entered, in order."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select customer_id, cycle_key from loyalty.journey_entries
               where workflow_id = %s order by customer_id, entered_on""",
            [workflow_id],
        ).fetchall()
    found: dict[int, list[str]] = {}
    for customer, cycle in rows:
        found.setdefault(customer, []).append(cycle)
    return found


class TestCooldown:
    def test_reentry_waits_out_the_cooldown(self, clean_warehouse: str, tmp_path: Path) -> None:
        """Cooldown 7 days: a customer who entered cycle 1 on D0 is not entered into cycle 2 on D0+3
        (no entry, no ledger row), a new customer is; on D0+7 the wait is over. Without a cooldown
        the same customer re-enters the next day."""
        url = clean_warehouse
        spec = make_spec(tmp_path, "cooling", "email", policies={"cooldown_days": 7})
        make_audience(url, "cooling", range(1, 4))
        plan(url, spec)
        for day, customers in ((3, range(1, 5)), (7, range(1, 5))):
            make_audience(url, "cooling", customers, run_date=D0 + dt.timedelta(days=day), cycle_key="'cycle-2'")
            plan(url, spec, D0 + dt.timedelta(days=day))
            if day == 3:
                assert entries(url, "cooling") == {1: ["cycle-1"], 2: ["cycle-1"], 3: ["cycle-1"], 4: ["cycle-2"]}
                with psycopg.connect(url) as conn:  # the waiting customers got no second ledger row
                    count = conn.execute("select count(*) from loyalty.send_ledger where workflow_id = 'cooling'")
                    assert count.fetchone() == (4,)
        assert entries(url, "cooling") == {c: ["cycle-1", "cycle-2"] for c in (1, 2, 3)} | {4: ["cycle-2"]}

        eager = make_spec(tmp_path, "eager", "email")
        make_audience(url, "eager", range(1, 2))
        plan(url, eager)
        make_audience(url, "eager", range(1, 2), run_date=D0 + dt.timedelta(days=1), cycle_key="'cycle-2'")
        plan(url, eager, D0 + dt.timedelta(days=1))
        assert entries(url, "eager") == {1: ["cycle-1", "cycle-2"]}

    def test_a_backdated_entry_is_measured_from_its_own_date(self, clean_warehouse: str, tmp_path: Path) -> None:
        """With `entered_on` (event-based entry), the cooldown counts back from the entry's date, not
        the run date: an entry dated D0+2 found on D0+10 still waits for one made on D0."""
        url = clean_warehouse
        audience = {"model": "eligible_backdated", "entered_on": "event_date"}
        spec = make_spec(tmp_path, "backdated", "email", audience=audience, policies={"cooldown_days": 7})
        make_audience(url, "backdated", range(1, 3), event_date=f"'{D0}'::date")
        plan(url, spec)
        late = D0 + dt.timedelta(days=10)
        event = f"case customer_id when 1 then '{D0 + dt.timedelta(days=2)}'::date else '{late}'::date end"
        make_audience(url, "backdated", range(1, 3), run_date=late, cycle_key="'cycle-2'", event_date=event)
        plan(url, spec, late)
        assert entries(url, "backdated") == {1: ["cycle-1"], 2: ["cycle-1", "cycle-2"]}
