"""Helpers for the send and policy tests: an emulator that speaks all three channels, small
workflow specs, and audiences with every channel's address and consent."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest
import yaml

from loyalty.channels.fcm_push import FcmPush
from loyalty.channels.sendgrid_email import SendGridEmail
from loyalty.channels.twilio_sms import TwilioSms
from loyalty.specs import WorkflowSpec, load_spec
from loyalty_dev.local_airflow import LOCAL_UNSUBSCRIBE as UNSUBSCRIBE
from loyalty_dev.services import Service, start_service

API_KEY = "SG.test-key"
TWILIO_SID = "AC" + "0" * 32
TWILIO_TOKEN = "twilio-test-token"
FCM_TOKEN = "fcm-test-token"
FCM_PROJECT = "loyalty-test"
CALLBACK = "http://127.0.0.1:9/webhooks/twilio/status"  # nobody listens: callbacks are not under test
D0 = dt.date(2026, 6, 1)
TEMPLATE = {
    "en": {"subject": "Hi {{ first_name }}", "body": "<p>Hi {{ first_name }}</p>", "title": "Hi", "text": "Hi there"}
}


def use_program(monkeypatch: pytest.MonkeyPatch, directory: Path, text: str) -> Path:
    """Write a program config (loyalty.program) and point every plan of the test at it."""
    path = directory / "program.yml"
    path.write_text(text)
    monkeypatch.setenv("LOYALTY_PROGRAM_FILE", str(path))
    return path


@pytest.fixture(autouse=True, name="no_global_holdout")
def no_global_holdout_fixture(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> None:
    """Counts in these tests are exact: the global holdout and the program's frequency cap are off unless a
    test turns them on (deferral keeps the program's default window)."""
    program = "global_holdout: {pct: 0}\ncontact_policy: {frequency_cap: null}\n"
    use_program(monkeypatch, tmp_path_factory.mktemp("program"), program)


@pytest.fixture(scope="module", name="providers")
def providers_fixture() -> Iterator[Service]:
    """One emulator for the module (reset per test): SendGrid, Twilio and FCM, no random bounces."""
    args = ["loyalty_dev.emulator", "--port", "0", "--seed", "7", "--api-key", API_KEY]
    args += ["--twilio-auth-token", TWILIO_TOKEN, "--fcm-access-token", FCM_TOKEN]
    args += ["--sms-unsubscribe-rate", "0", "--push-bounce-rate", "0"]
    service = start_service("emulator", args)
    yield service
    service.stop()


@pytest.fixture(name="channels_emulator")
def channels_emulator_fixture(providers: Service) -> Service:
    httpx.post(f"{providers.url}/_emulator/reset", timeout=10).raise_for_status()
    httpx.post(f"{providers.url}/_emulator/settings", json={"sms": {"latency_s": 0}}, timeout=10)
    return providers


_OPEN: list = []


@pytest.fixture(autouse=True, name="close_clients")
def close_clients_fixture() -> Iterator[None]:
    """Clients made by a test are closed after it (pooled sockets would warn, and warnings fail)."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _opened(client):
    _OPEN.append(client)
    return client


def email_client(url: str, **kwargs) -> SendGridEmail:
    kwargs.setdefault("unsubscribe", UNSUBSCRIBE)
    return _opened(SendGridEmail(API_KEY, "loyalty@example.com", host=url, lookup_host=url, **kwargs))


def sms_client(url: str, **kwargs) -> TwilioSms:
    return _opened(TwilioSms(TWILIO_SID, TWILIO_TOKEN, "+15005550006", CALLBACK, host=url, lookup_host=url, **kwargs))


def push_client(url: str, **kwargs) -> FcmPush:
    return _opened(FcmPush(FCM_PROJECT, FCM_TOKEN, host=url, lookup_host=url, **kwargs))


def clients(url: str, **kwargs) -> dict:
    return {"email": email_client(url), "sms": sms_client(url, **kwargs), "push": push_client(url, **kwargs)}


def make_spec(tmp_path: Path, name: str, channel: str | list[str], **extra) -> WorkflowSpec:
    """A one-message workflow on `channel` (or a fallback order) reading marts.eligible_<name>."""
    data = {
        "id": name,
        "name": name,
        "owner": "tests",
        "description": "policy and channel tests",
        "audience": {"model": f"eligible_{name}"},
        "experiment": {
            "salt": "s",
            "holdout_pct": 0.0,
            "variants": [{"id": "a", "weight": 1.0, "templates": {"hello": TEMPLATE}}],
        },
        "steps": [{"id": "hello", "type": "message", "channel": channel}],
        **extra,
    }
    path = tmp_path / f"{name}.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return load_spec(path)


def make_audience(
    url: str, name: str, customers: range, run_date: dt.date = D0, time_zone: str = "UTC", **columns: str
) -> None:
    """marts.eligible_<name>: every channel consented, addresses derived from the customer id;
    `columns` override a column with an SQL expression of customer_id."""
    defaults = {
        "cycle_key": "'cycle-1'",
        "email": "'c' || customer_id || '@example.com'",
        "email_consent": "true",
        "phone": "'+1555' || lpad(customer_id::text, 7, '0')",
        "sms_consent": "true",
        "push_token": "'token-' || customer_id",
        "push_consent": "true",
        "timezone": f"'{time_zone}'",
    }
    defaults.update(columns)
    selected = ", ".join(f"{expression} as {column}" for column, expression in defaults.items())
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute(f"drop table if exists marts.eligible_{name}")
        conn.execute(
            f"""create table marts.eligible_{name} as
                select customer_id, %s::date as run_date, 'Ana' as first_name, 'en' as locale, {selected}
                from generate_series(%s::int, %s::int) as customer_id""",
            [run_date, customers.start, customers.stop - 1],
        )


def ledger_rows(url: str, workflow_id: str) -> dict[int, tuple]:
    """customer -> (status, status_reason, channel, provider_message_id, send_id)."""
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select customer_id, status, status_reason, channel, provider_message_id, send_id
               from loyalty.send_ledger where workflow_id = %s""",
            [workflow_id],
        ).fetchall()
    return {row[0]: row[1:] for row in rows}


def emulator_messages(url: str, channel: str) -> list[dict]:
    return httpx.get(f"{url}/_emulator/messages", params={"channel": channel}, timeout=30).json()


def emulator_requests(url: str, channel: str) -> list[dict]:
    return [r for r in httpx.get(f"{url}/_emulator/requests", timeout=30).json() if r["channel"] == channel]


def inject(url: str, **fault) -> None:
    httpx.post(f"{url}/_emulator/faults", json=fault, timeout=10).raise_for_status()
