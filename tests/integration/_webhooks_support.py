"""Shared by the receiver tests: keys, provider-style signing, ledger rows, a receiver client."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

import psycopg
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.testclient import TestClient
from twilio.request_validator import RequestValidator

from loyalty.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    TWILIO_SIGNATURE_HEADER,
    ReceiverConfig,
    app_event_headers,
    create_app,
)
from loyalty.webhooks.providers import PUSH_HMAC, signed_headers

PRIVATE_KEY = ec.generate_private_key(ec.SECP256R1())
PUBLIC_KEY = base64.b64encode(
    PRIVATE_KEY.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
).decode()
TWILIO_TOKEN = "twilio-test-token"
PUSH_SECRET = "push-test-secret"
UNSUBSCRIBE_SECRET = "unsubscribe-test-secret"
APP_EVENTS_SECRET = "app-events-test-secret"
BASE = "http://testserver"
RECEIVER_TABLES = ("raw.message_events", "loyalty.contactability", "loyalty.send_ledger", "raw.app_events")


def receiver_config(url: str, **overrides: object) -> ReceiverConfig:
    values: dict = {
        "warehouse_url": url,
        "sendgrid_public_key": PUBLIC_KEY,
        "twilio_auth_token": TWILIO_TOKEN,
        "push_webhook_secret": PUSH_SECRET,
        "unsubscribe_secret": UNSUBSCRIBE_SECRET,
        "app_events_secret": APP_EVENTS_SECRET,
        **overrides,
    }
    return ReceiverConfig(**values)


@contextmanager
def receiver_client(config: ReceiverConfig) -> Iterator[TestClient]:
    """A TestClient whose warehouse connections are closed afterwards."""
    app = create_app(config)
    try:
        yield TestClient(app)
    finally:
        app.state.store.close()


def wipe(url: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(f"truncate {', '.join(RECEIVER_TABLES)}")


def add_sends(url: str, rows: Iterable[tuple[str, str, str]], provider_ids: dict[str, str] | None = None) -> None:
    """Ledger rows (send_id, channel, recipient) as a channel would have left them: sent."""
    provider_ids = provider_ids or {}
    with psycopg.connect(url) as conn, conn.cursor() as cur:
        cur.executemany(
            """insert into loyalty.send_ledger (send_id, workflow_id, step_id, customer_id, cycle_key, run_date,
                   variant, is_holdout, channel, recipient, status, provider_message_id)
               values (%s, 'wf', 'step', %s, 'c1', '2026-06-01', 'a', false, %s, %s, 'sent', %s)""",
            [
                (send_id, index + 1, channel, recipient, provider_ids.get(send_id))
                for index, (send_id, channel, recipient) in enumerate(rows)
            ],
        )


def query(url: str, sql: str, params: list | None = None) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(sql, params).fetchall()


def stored_events(url: str) -> list[tuple]:
    return query(url, "select event_id, send_id, event_type from raw.message_events order by 1")


def contactability(url: str) -> dict[tuple[str, str], tuple]:
    rows = query(url, "select channel, address, is_contactable, reason, customer_id from loyalty.contactability")
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


# -- provider-style requests ------------------------------------------------------------------
def sendgrid_headers(body: bytes, timestamp: int | None = None, key: ec.EllipticCurvePrivateKey = PRIVATE_KEY) -> dict:
    stamp = str(timestamp if timestamp is not None else int(time.time()))
    signature = key.sign(stamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    return {SIGNATURE_HEADER: base64.b64encode(signature).decode(), TIMESTAMP_HEADER: stamp}


def sendgrid_event(i: int, event: str = "delivered", send_id: str | None = None, **extra: object) -> dict:
    return {
        "email": f"Customer{i}@Example.com",
        "timestamp": 1780300800 + i,
        "event": event,
        "sg_event_id": f"evt-{event}-{i}",
        "sg_message_id": f"msg-{i}.recvd-0",
        **({"send_id": send_id} if send_id else {}),
        **extra,
    }


def json_body(items: list) -> bytes:
    return json.dumps(items).encode()


def twilio_headers(path: str, params: dict[str, str], token: str = TWILIO_TOKEN) -> dict:
    signature = RequestValidator(token).compute_signature(BASE + path, params)
    return {TWILIO_SIGNATURE_HEADER: signature, "Content-Type": "application/x-www-form-urlencoded"}


def twilio_status(sid_number: int, status: str, to: str = "+5511999990001", **extra: str) -> dict[str, str]:
    sid = f"SM{sid_number:032x}"
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "From": "+15005550006",
        "MessageSid": sid,
        "MessageStatus": status,
        "SmsSid": sid,
        "SmsStatus": status,
        "To": to,
        **extra,
    }


def twilio_inbound(sid_number: int, body: str, sender: str = "+5511999990001") -> dict[str, str]:
    sid = f"SM{sid_number:032x}"
    return {
        "AccountSid": "AC" + "0" * 32,
        "ApiVersion": "2010-04-01",
        "Body": body,
        "From": sender,
        "MessageSid": sid,
        "NumMedia": "0",
        "SmsMessageSid": sid,
        "SmsSid": sid,
        "SmsStatus": "received",
        "To": "+15005550006",
    }


def push_headers(body: bytes, timestamp: int | None = None, secret: str = PUSH_SECRET) -> dict:
    return signed_headers(PUSH_HMAC, secret, body, timestamp)


def push_receipt(i: int, event: str = "delivered", send_id: str | None = None) -> dict:
    name = f"projects/p/messages/0:{i}"
    return {
        "event_id": f"{name}:{event}",
        "event": event,
        "message_id": name,
        "send_id": send_id,
        "token": f"token-{i}",
        "timestamp": 1780300800 + i,
    }


# -- the shop's app events ----------------------------------------------------------------------
def app_headers(body: bytes, timestamp: int | None = None, secret: str = APP_EVENTS_SECRET) -> dict:
    """Signed the way the product tells a shop's backend to sign (loyalty.webhooks.app_event_headers)."""
    return app_event_headers(secret, body, timestamp)


def app_event(i: int, event_type: str = "product_viewed", **fields: object) -> dict:
    """A valid event of ``event_type`` (its required fields filled in), with ``fields`` added or replaced."""
    needs: dict[str, dict[str, object]] = {
        "product_viewed": {"product_id": 100 + i},
        "added_to_cart": {"product_id": 100 + i, "quantity": 2, "unit_price": 19.99},
        "removed_from_cart": {"product_id": 100 + i, "quantity": 1},
        "nps_answered": {"score": 9, "order_id": f"order-{i}"},
        "csat_answered": {"score": 4},
    }
    return {
        "event_id": f"app-{event_type}-{i}",
        "customer_id": 1000 + i,
        "event_type": event_type,
        "occurred_at": "2026-06-01T09:30:00+00:00",
        **needs.get(event_type, {}),
        **fields,
    }


def app_batch(events: list[dict]) -> bytes:
    return json.dumps({"events": events}).encode()


def stored_app_events(url: str) -> list[tuple]:
    return query(
        url,
        """select event_id, customer_id, event_type, occurred_at, product_id, quantity, unit_price, score, order_id
           from raw.app_events order by event_id""",
    )
