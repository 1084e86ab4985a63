"""Sending on the real Postgres through the real clients against the provider emulator: SMS
(twilio) and push (FCM HTTP v1), crash safety under SIGKILL, 429 storms, permanent errors."""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import httpx
import psycopg
import pytest

from loyalty import ledger
from loyalty.channels.base import Outcome, RateLimiter
from loyalty.channels.rewards import RewardGranter
from loyalty.warehouse import connect
from loyalty_dev.services import Service

from ._sends_support import (
    D0,
    UNSUBSCRIBE,
    channels_emulator_fixture,  # noqa: F401 - fixture
    clients,
    close_clients_fixture,  # noqa: F401 - fixture
    email_client,
    emulator_messages,
    emulator_requests,
    inject,
    ledger_rows,
    make_audience,
    make_spec,
    no_global_holdout_fixture,  # noqa: F401 - fixture
    providers_fixture,  # noqa: F401 - fixture
    sms_client,
)

pytestmark = pytest.mark.integration


def plan_and_send(url: str, spec, senders: dict, day: dt.date = D0, **kwargs) -> list[dict]:
    with psycopg.connect(url) as conn:
        ledger.plan(conn, spec, day)
        batches = ledger.assign_batches(conn, spec, day)
    senders = {"reward": RewardGranter(spec), **senders}
    return [
        ledger.send_batch(partial(connect, url), spec, batch, senders, **kwargs)
        for channel_batches in batches.values()
        for batch in channel_batches
    ]


class TestRealClients:
    def test_sms_and_push_through_the_real_clients(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """Twilio's client (redirected by its http_client) and FCM v1 send one message per row; the
        StatusCallback carries the send id, push data carries it, the ledger keeps provider ids."""
        emulator = channels_emulator
        url = clean_warehouse
        for name, channel, customers in (("texts", "sms", range(1, 61)), ("pushes", "push", range(101, 161))):
            spec = make_spec(tmp_path, name, channel, batch_size=25)
            make_audience(url, name, customers)
            results = plan_and_send(url, spec, clients(emulator.url, concurrency=8))
            assert sum(r["sent"] for r in results) == 60 and len(results) == 3
            rows = ledger_rows(url, name)
            assert {r[0] for r in rows.values()} == {"sent"}
            messages = emulator_messages(emulator.url, channel)
            assert len(messages) == 60
            by_send_id = {m["send_id"]: m for m in messages}
            with psycopg.connect(url) as conn:
                responses = dict(
                    conn.execute(
                        "select send_id, provider_response from loyalty.send_ledger where workflow_id = %s", [name]
                    ).fetchall()
                )
            assert set(by_send_id) == {r[4] for r in rows.values()}
            for customer, (_, _, _, provider_id, send_id) in rows.items():
                message = by_send_id[send_id]
                if channel == "sms":
                    assert message["sid"] == provider_id and message["to"] == f"+1555{customer:07d}"
                    assert message["body"] == "Hi there"
                    assert responses[send_id] == {  # the segments the carrier bills, kept in the ledger
                        "sid": provider_id,
                        "status": "queued",
                        "segments": 1,
                        "encoding": "GSM-7",
                    }
                    assert parse_qs(urlparse(message["status_callback"]).query)["send_id"] == [send_id]
                else:
                    assert message["name"] == provider_id and message["to"] == f"token-{customer}"
                    assert message["data"]["send_id"] == send_id
                    assert message["notification"] == {"title": "Hi", "body": "Hi there"}


class TestOneClickUnsubscribe:
    def test_marketing_email_carries_the_headers_and_the_link(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """What the provider received: RFC 8058 headers per recipient and the body's signed link to the same
        URL, each naming its own send; a transactional workflow's email carries neither."""
        url, emulator = clean_warehouse, channels_emulator
        template = {"en": {"subject": "Hi", "body": "<p>Hi</p><a href='{{ unsubscribe_url }}'>Unsubscribe</a>"}}
        variants = [{"id": "a", "weight": 1.0, "templates": {"hello": template}}]
        marketing = make_spec(
            tmp_path, "promo", "email", experiment={"salt": "s", "holdout_pct": 0, "variants": variants}
        )
        receipts = make_spec(tmp_path, "receipts", "email", category="transactional")
        make_audience(url, "promo", range(1, 6))
        make_audience(url, "receipts", range(6, 9))
        client = email_client(emulator.url)
        plan_and_send(url, marketing, {"email": client})
        plan_and_send(url, receipts, {"email": client})
        by_workflow: dict[str, list[dict]] = {}
        for message in emulator_messages(emulator.url, "email"):
            by_workflow.setdefault(message["categories"][1], []).append(message)
        assert len(by_workflow["promo"]) == 5 and len(by_workflow["receipts"]) == 3
        for message in by_workflow["promo"]:
            link = UNSUBSCRIBE.url(message["send_id"])
            assert message["headers"] == {
                "List-Unsubscribe": f"<{link}>, <mailto:unsubscribe@example.com?subject=unsubscribe>",
                "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            }
            assert message["html"] == f"<p>Hi</p><a href='{link}'>Unsubscribe</a>"
        assert all(message["headers"] == {} for message in by_workflow["receipts"])

    def test_no_marketing_email_without_links_and_nothing_claimed(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ) -> None:
        """A client configured without an unsubscribe secret: the send task fails before claiming, the rows stay
        pending for a run that has one, and the provider saw nothing."""
        url, emulator = clean_warehouse, channels_emulator
        spec = make_spec(tmp_path, "promo", "email")
        make_audience(url, "promo", range(1, 4))
        with pytest.raises(RuntimeError, match="no unsubscribe link is configured"):
            plan_and_send(url, spec, {"email": email_client(emulator.url, unsubscribe=None)})
        assert {row[0] for row in ledger_rows(url, "promo").values()} == {"pending"}
        assert emulator_messages(emulator.url, "email") == []


KILLED_SENDER = """
import sys
from functools import partial
from loyalty import ledger
from loyalty.channels.base import Outcome, RateLimiter
from loyalty.specs import load_spec
from loyalty.warehouse import connect
sys.path.insert(0, sys.argv[4])
from tests.integration._sends_support import sms_client
url, spec_path, emulator_url = sys.argv[1:4]
spec = load_spec(__import__("pathlib").Path(spec_path))
with connect(url) as conn:
    batches = ledger.assign_batches(conn, spec, __import__("datetime").date(2026, 6, 1))
sender = sms_client(emulator_url, concurrency=4)
ledger.send_batch(partial(connect, url), spec, batches["sms"][0], {"sms": sender})
"""


class TestCrashSafety:
    def test_sigkill_mid_batch_then_rerun_sends_each_customer_exactly_once(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """A send task killed with SIGKILL mid-batch leaves rows in `sending`; the rerun looks them
        up at the provider (found -> sent, never arrived -> requeued) and sends only the rest."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "killed", "sms")
        make_audience(url, "killed", range(1, 41))
        with psycopg.connect(url) as conn:
            ledger.plan(conn, spec, D0)
        httpx.post(f"{emulator.url}/_emulator/settings", json={"sms": {"latency_s": 0.15}}, timeout=10)
        root = Path(__file__).resolve().parents[2]
        child = subprocess.Popen(
            [sys.executable, "-c", KILLED_SENDER, url, str(tmp_path / "killed.yml"), emulator.url, str(root)],
            env={**os.environ},
        )
        deadline = time.monotonic() + 30
        while len(emulator_messages(emulator.url, "sms")) < 12:
            assert time.monotonic() < deadline and child.poll() is None, "the sender finished too early"
            time.sleep(0.02)
        child.send_signal(signal.SIGKILL)
        child.wait()
        time.sleep(0.5)  # requests in flight when the worker died finish at the provider
        before = ledger_rows(url, "killed")
        statuses = [r[0] for r in before.values()]
        assert statuses.count("sending") == 40 and len(emulator_messages(emulator.url, "sms")) < 40

        with psycopg.connect(url) as conn:  # Airflow retries the mapped task with the same batch id
            (batch,) = conn.execute("select distinct batch_id from loyalty.send_ledger").fetchone()
        result = ledger.send_batch(
            partial(connect, url), spec, batch, {"sms": sms_client(emulator.url, concurrency=4)}, grace_seconds=0.3
        )
        at_provider = emulator_messages(emulator.url, "sms")
        recipients = [m["to"] for m in at_provider]
        assert len(recipients) == len(set(recipients)) == 40  # each customer exactly once
        assert result["reconciled_sent"] + result["reconciled_requeued"] == 40
        assert result["reconciled_sent"] >= 12 and result["sent"] == result["reconciled_requeued"]
        after = ledger_rows(url, "killed")
        assert {r[0] for r in after.values()} == {"sent"}
        assert {r[3] for r in after.values()} == {m["sid"] for m in at_provider}

    def test_stuck_rows_the_provider_cannot_confirm_become_unknown(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """Without a lookup (a provider that cannot be asked) a row in `sending` is never resent: it
        becomes `unknown` and is reported by the next plan."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "doubt", "sms")
        make_audience(url, "doubt", range(1, 4))
        with psycopg.connect(url) as conn:
            ledger.plan(conn, spec, D0)
            conn.execute("update loyalty.send_ledger set status = 'sending', updated_at = now() - interval '1 hour'")
            reconciled = ledger.reconcile_stuck(conn, spec.id, lambda channel: None)
        assert reconciled.as_dict() == {"sent": 0, "requeued": 0, "unknown": 3, "in_flight": 0}
        assert {r[0] for r in ledger_rows(url, "doubt").values()} == {"unknown"}
        assert emulator_messages(emulator.url, "sms") == []

    def test_a_5xx_after_acceptance_is_not_sent_twice(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """The provider accepted the message but answered 500 (or dropped the connection): the
        lookup finds it, so it is recorded as sent instead of retried."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "accepted", "push")
        make_audience(url, "accepted", range(1, 7))
        inject(emulator.url, channel="push", status=500, count=2, after_accept=True)
        inject(emulator.url, channel="push", kind="drop", count=2, after_accept=True)
        results = plan_and_send(url, spec, clients(emulator.url, concurrency=1))
        assert sum(r["sent"] for r in results) == 6
        tokens = [m["to"] for m in emulator_messages(emulator.url, "push")]
        assert len(tokens) == len(set(tokens)) == 6


class TestRateLimits:
    def test_sms_429_storm_every_message_once_and_retry_after_respected(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """Twelve 429s with Retry-After: 1 against four concurrent senders: every message ends up
        sent exactly once, and after each 429 nobody sends again before Retry-After elapsed
        (requests already in flight excepted)."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "stormy", "sms")
        make_audience(url, "stormy", range(1, 31))
        inject(emulator.url, channel="sms", status=429, count=12, retry_after=1)
        started = time.monotonic()
        results = plan_and_send(url, spec, clients(emulator.url, concurrency=4))
        elapsed = time.monotonic() - started
        assert sum(r["sent"] for r in results) == 30
        recipients = [m["to"] for m in emulator_messages(emulator.url, "sms")]
        assert len(recipients) == len(set(recipients)) == 30
        requests = sorted(emulator_requests(emulator.url, "sms"), key=lambda r: r["received_at"])
        refused = [r["received_at"] for r in requests if r["status"] == 429]
        assert len(refused) == 12
        for at in refused:
            # Inside the Retry-After window only requests that passed the limiter before the pause was set may
            # arrive: the other three threads' in-flight ones, and on a loaded machine (the 429's own thread
            # descheduled before it sets the pause) one more each. Without the pause every thread retries at once
            # and the window holds the rest of the storm: dozens.
            too_early = [r for r in requests if at < r["received_at"] < at + 0.9]
            assert len(too_early) <= 2 * 3, (at, too_early)
        assert elapsed >= 2.0  # at least two rounds of Retry-After with four threads

    def test_email_429_then_success_waits_retry_after_between_attempts(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """SendGrid's 429 (Retry-After and X-RateLimit-Reset): the batch is retried after the wait
        the provider asked for, and its 1000 personalizations are sent once."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "mail_storm", "email")
        make_audience(url, "mail_storm", range(1, 101))
        inject(emulator.url, channel="email", status=429, count=2, retry_after=1)
        results = plan_and_send(url, spec, {"email": email_client(emulator.url)})
        assert sum(r["sent"] for r in results) == 100
        times = [r["received_at"] for r in emulator_requests(emulator.url, "email")]
        assert len(times) == 3
        assert all(later - earlier >= 0.95 for earlier, later in itertools.pairwise(times))
        assert len(emulator_messages(emulator.url, "email")) == 100

    def test_rate_limit_paces_messages_per_second(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """rate_limit=20/s over 8 threads: 30 messages take at least 1.4 s."""
        emulator = channels_emulator
        url = clean_warehouse
        spec = make_spec(tmp_path, "paced", "sms")
        make_audience(url, "paced", range(1, 31))
        started = time.monotonic()
        plan_and_send(url, spec, {"sms": sms_client(emulator.url, concurrency=8, rate_limit=20)})
        assert time.monotonic() - started >= 1.4
        assert len(emulator_messages(emulator.url, "sms")) == 30

    def test_a_rate_limited_channel_sends_one_batch_at_a_time_across_tasks(self, clean_warehouse: str, tmp_path: Path):
        """Two send tasks at once on a rate-limited channel: the second waits for the channel's
        pacing lock (a Postgres advisory lock) with its rows still pending, and its requests start
        only after the first batch's outcomes are recorded, so messages-per-second holds for the
        channel, not per pool slot. Without a limit no lock is taken. (Ordering, not timing.)"""
        url = clean_warehouse
        spec = make_spec(tmp_path, "shared_pace", "sms", batch_size=1)
        make_audience(url, "shared_pace", range(1, 3))
        with psycopg.connect(url) as conn:
            ledger.plan(conn, spec, D0)
            first_batch, second_batch = ledger.assign_batches(conn, spec, D0)["sms"]
        log: list[str] = []
        first_in, release = threading.Event(), threading.Event()

        class Paced:
            def __init__(self, per_second: float | None) -> None:
                self.limiter = RateLimiter(per_second)

            def deliver(self, messages, categories):
                log.append("start")
                if not first_in.is_set():
                    first_in.set()
                    assert release.wait(30)
                log.append("end")
                return [Outcome(m.send_id, "sent", f"SM{m.send_id}") for m in messages]

            def lookup_ids(self, send_ids):
                return None

            def close(self) -> None:
                pass

        def waiting_for_the_lock() -> int:
            with psycopg.connect(url) as conn:
                return conn.execute(
                    "select count(*) from pg_locks where locktype = 'advisory' and not granted"
                ).fetchone()[0]

        def send(batch: str, sender: Paced) -> None:
            ledger.send_batch(partial(connect, url), spec, batch, {"sms": sender})

        sender = Paced(1000.0)
        first = threading.Thread(target=send, args=(first_batch, sender))
        first.start()
        assert first_in.wait(30)
        second = threading.Thread(target=send, args=(second_batch, sender))
        second.start()
        deadline = time.monotonic() + 30
        while waiting_for_the_lock() != 1:
            assert time.monotonic() < deadline, "the second task never queued for the channel's lock"
            time.sleep(0.05)
        assert log == ["start"]
        assert sorted(row[0] for row in ledger_rows(url, spec.id).values()) == ["pending", "sending"]
        release.set()
        first.join(30)
        second.join(30)
        assert log == ["start", "end", "start", "end"]
        assert {row[0] for row in ledger_rows(url, spec.id).values()} == {"sent"}
        assert waiting_for_the_lock() == 0

        with psycopg.connect(url) as conn:
            assert not ledger._is_rate_limited(Paced(None))  # type: ignore[arg-type]
            assert conn.execute("select count(*) from pg_locks where locktype = 'advisory'").fetchone()[0] == 0


class TestPermanentErrors:
    def test_dead_addresses_fail_update_contactability_and_are_suppressed_next_time(
        self, clean_warehouse: str, tmp_path: Path, channels_emulator: Service
    ):
        """21211 (invalid number), 21610 (replied STOP) and FCM UNREGISTERED fail their rows,
        mark the address non-contactable, and the next workflow suppresses those addresses."""
        emulator = channels_emulator
        url = clean_warehouse
        httpx.post(
            f"{emulator.url}/_emulator/sms/inbound",
            json={"from": "+15550000002", "to": "+15005550006", "body": "STOP"},
            timeout=10,
        ).raise_for_status()
        httpx.post(f"{emulator.url}/_emulator/push/tokens", json={"unregister": ["token-3"]}, timeout=10)
        phone = "case when customer_id = 1 then '12345' else '+1555' || lpad(customer_id::text, 7, '0') end"
        for offset, (name, channel) in enumerate((("first_sms", "sms"), ("first_push", "push"))):
            day = D0 + dt.timedelta(days=offset)  # one workflow message per customer and day
            spec = make_spec(tmp_path, name, channel)
            make_audience(url, name, range(1, 6), run_date=day, phone=phone)
            plan_and_send(url, spec, clients(emulator.url, concurrency=2), day=day)
        sms_rows, push_rows = ledger_rows(url, "first_sms"), ledger_rows(url, "first_push")
        assert [sms_rows[c][0] for c in range(1, 6)] == ["failed", "failed", "sent", "sent", "sent"]
        assert "21211" in sms_rows[1][1] and "21610" in sms_rows[2][1]
        assert [push_rows[c][0] for c in range(1, 6)] == ["sent", "sent", "failed", "sent", "sent"]
        assert "UNREGISTERED" in push_rows[3][1]
        with psycopg.connect(url) as conn:
            states = conn.execute(
                "select channel, address, customer_id, is_contactable, reason from loyalty.contactability order by 1, 2"
            ).fetchall()
        assert states == [
            ("push", "token-3", 3, False, "push_unregistered"),
            ("sms", "+15550000002", 2, False, "sms_opted_out"),
            ("sms", "12345", 1, False, "sms_invalid_number"),
        ]
        day = D0 + dt.timedelta(days=2)
        later = make_spec(tmp_path, "second_sms", ["sms", "push"])
        make_audience(url, "second_sms", range(1, 6), run_date=day, phone=phone)
        with psycopg.connect(url) as conn:
            ledger.plan(conn, later, day)
        rows = ledger_rows(url, "second_sms")
        assert {c: (r[0], r[2]) for c, r in rows.items()} == {
            1: ("pending", "push"),  # number dead: falls back to push
            2: ("pending", "push"),
            3: ("pending", "sms"),
            4: ("pending", "sms"),
            5: ("pending", "sms"),
        }
        day = D0 + dt.timedelta(days=3)
        only_push = make_spec(tmp_path, "second_push", "push")
        make_audience(url, "second_push", range(1, 6), run_date=day)
        with psycopg.connect(url) as conn:
            ledger.plan(conn, only_push, day)
        assert ledger_rows(url, "second_push")[3][:2] == ("suppressed", "global_suppression")


class TestClientConfiguration:
    def test_twilio_client_reads_proxy_settings_once_not_per_request(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The Twilio HTTP client takes the environment's proxy and CA bundle when it is built and
        then stops consulting os.environ on each request (requests' per-request environment merge
        was ~12% of a send's CPU); a proxy set in the environment is still honoured."""
        from loyalty.channels.twilio_sms import RedirectingHttpClient

        monkeypatch.setenv("HTTPS_PROXY", "http://proxy.example:3128")
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", "/etc/ssl/certs/bundle.pem")
        for name in ("NO_PROXY", "no_proxy", "HTTP_PROXY", "http_proxy", "https_proxy", "ALL_PROXY", "all_proxy"):
            monkeypatch.delenv(name, raising=False)
        client = RedirectingHttpClient(None)
        assert client.session is not None and client.session.trust_env is False
        assert client.proxy["https"] == "http://proxy.example:3128"
        assert client.session.verify == "/etc/ssl/certs/bundle.pem"
        local = RedirectingHttpClient("http://127.0.0.1:9")
        assert "http" not in local.proxy  # the redirect target's own proxy settings (none here)
