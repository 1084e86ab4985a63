"""The webhook receiver: the one public door into the warehouse, open only to the providers.

SendGrid's Signed Event Webhook is verified with the `sendgrid` package's own EventWebhook
helper (ECDSA P-256 over timestamp + body); stale timestamps are refused (replay window);
events are stored once per provider event id before we answer 2xx, so provider retries are safe.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import time
from dataclasses import dataclass

import psycopg
from psycopg.types.json import Jsonb
from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

log = logging.getLogger(__name__)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
REQUIRED_EVENT_FIELDS = ("sg_event_id", "event", "timestamp")

INSERT_EVENTS = """
insert into raw.message_events (event_id, provider, send_id, provider_message_id, event_type, occurred_at, payload)
select * from unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::text[], %s::timestamptz[], %s::jsonb[])
on conflict (event_id) do nothing
"""


@dataclass(frozen=True)
class ReceiverConfig:
    warehouse_url: str
    sendgrid_public_key: str  # base64 DER, as SendGrid's settings API returns it
    max_body_bytes: int = 5 * 1024 * 1024
    replay_window_seconds: int = 300


class Rejected(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


def verify_sendgrid(config: ReceiverConfig, body: bytes, signature: str | None, timestamp: str | None) -> None:
    """Raise Rejected unless the body carries a fresh, valid SendGrid signature."""
    if not signature or not timestamp:
        raise Rejected(401, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
    try:
        sent_at = int(timestamp)
    except ValueError:
        raise Rejected(401, f"{TIMESTAMP_HEADER} is not a unix timestamp") from None
    if abs(time.time() - sent_at) > config.replay_window_seconds:
        raise Rejected(401, f"timestamp outside the {config.replay_window_seconds}s replay window")
    helper = EventWebhook()
    try:
        key = helper.convert_public_key_to_ecdsa(config.sendgrid_public_key)
        valid = helper.verify_signature(body.decode("utf-8"), signature, timestamp, key)
    except Exception:  # malformed base64/DER signatures raise inside the helper
        valid = False
    if not valid:
        raise Rejected(403, "signature does not match the body")


def parse_sendgrid_events(body: bytes) -> list[dict]:
    """The batch as a list of events, or Rejected naming the first bad event."""
    try:
        events = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise Rejected(400, f"body is not JSON: {error}") from None
    if not isinstance(events, list):
        raise Rejected(400, "body must be a JSON array of events")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected(400, f"event {index} is not an object")
        missing = [name for name in REQUIRED_EVENT_FIELDS if name not in event]
        if missing:
            raise Rejected(400, f"event {index} lacks {', '.join(missing)}")
        if not isinstance(event["timestamp"], int | float):
            raise Rejected(400, f"event {index}: timestamp must be a number")
    return events


def store_sendgrid_events(conn: psycopg.Connection, events: list[dict]) -> int:
    """Insert events once per sg_event_id; returns how many were new."""
    columns: tuple[list, ...] = ([], [], [], [], [], [], [])
    for event in events:
        values = (
            str(event["sg_event_id"]),
            "sendgrid",
            event.get("send_id"),
            event.get("sg_message_id"),
            str(event["event"]),
            dt.datetime.fromtimestamp(event["timestamp"], tz=dt.UTC),
            Jsonb(event),
        )
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    return conn.execute(INSERT_EVENTS, list(columns)).rowcount


def create_app(config: ReceiverConfig) -> Starlette:
    async def sendgrid_events(request: Request) -> JSONResponse:
        body = await request.body()
        try:
            if len(body) > config.max_body_bytes:
                raise Rejected(413, f"body larger than {config.max_body_bytes} bytes")
            verify_sendgrid(config, body, request.headers.get(SIGNATURE_HEADER), request.headers.get(TIMESTAMP_HEADER))
            events = parse_sendgrid_events(body)
        except Rejected as rejected:
            log.warning("sendgrid webhook rejected (%s): %s", rejected.status, rejected.reason)
            return JSONResponse({"error": rejected.reason}, status_code=rejected.status)
        stored = await run_in_threadpool(_store, events)
        return JSONResponse({"received": len(events), "stored": stored})

    def _store(events: list[dict]) -> int:
        with psycopg.connect(config.warehouse_url) as conn:
            return store_sendgrid_events(conn, events)

    async def health(_: Request) -> JSONResponse:
        return JSONResponse({"status": "ok"})

    return Starlette(
        routes=[
            Route("/webhooks/sendgrid", sendgrid_events, methods=["POST"]),
            Route("/health", health, methods=["GET"]),
        ]
    )
