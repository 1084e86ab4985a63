"""Verify and read each provider's webhook, the provider's way; produce records to store.

Every function here raises ``Rejected(status, reason)`` for input we refuse; nothing is stored
for a refused request. Records for ``sql/ingest_events.sql`` are plain dicts (see that file).
"""

from __future__ import annotations

import binascii
import datetime as dt
import hashlib
import hmac
import json
import math
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from sendgrid.helpers.eventwebhook import EventWebhook
from starlette.datastructures import ImmutableMultiDict
from twilio.request_validator import RequestValidator

from loyalty.unsubscribe import InvalidToken, read_token

from .consent import PERMANENT_SMS_ERRORS, sms_keyword_change

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
TWILIO_SIGNATURE_HEADER = "X-Twilio-Signature"
PUSH_SIGNATURE_HEADER = "X-Loyalty-Push-Signature"
PUSH_TIMESTAMP_HEADER = "X-Loyalty-Push-Timestamp"
APP_SIGNATURE_HEADER = "X-Loyalty-App-Signature"
APP_TIMESTAMP_HEADER = "X-Loyalty-App-Timestamp"
JSON_TYPE = "application/json"
REQUIRED_EVENT_FIELDS = ("sg_event_id", "event", "timestamp")
TWILIO_STATUSES = frozenset(
    {
        "accepted",
        "scheduled",
        "canceled",
        "queued",
        "sending",
        "sent",
        "failed",
        "delivered",
        "undelivered",
        "receiving",
        "received",
        "read",
        "delivery_unknown",
    }
)
PUSH_EVENTS = frozenset({"delivered", "open"})
MAX_ID_CHARS = 512
_TWILIO_SID = re.compile(r"^(SM|MM)[0-9a-fA-F]{32}$")
_LATEST_TIMESTAMP = 253402300799  # 9999-12-31T23:59:59Z, the last second Postgres' to_timestamp handles here


class Rejected(Exception):
    """A request we refuse, with the HTTP status and a reason the sender can act on."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


# -- shared -----------------------------------------------------------------------------------
def check_fresh(timestamp: str | None, window_seconds: int, header: str) -> None:
    """The provider's timestamp must be a unix time within the replay window of now."""
    try:
        sent_at = int(timestamp or "")
    except ValueError:
        raise Rejected(401, f"{header} is not a unix timestamp") from None
    if abs(time.time() - sent_at) > window_seconds:
        raise Rejected(401, f"timestamp outside the {window_seconds}s replay window")


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def load_json(body: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN/Infinity, no NUL characters (the warehouse cannot store them)."""
    try:
        text = body.decode("utf-8")
        data = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError) as error:
        raise Rejected(400, f"body is not JSON: {error}") from None
    if "\\u0000" in text:
        raise Rejected(400, "body contains a NUL character (\\u0000), which cannot be stored")
    return data


def _timestamp_ok(value: Any) -> bool:
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 <= value <= _LATEST_TIMESTAMP
    )


def _short_string(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_ID_CHARS


# -- SendGrid ---------------------------------------------------------------------------------
class SendGridVerifier:
    """SendGrid's own EventWebhook helper, with the public key parsed once."""

    def __init__(self, public_key_b64: str) -> None:
        self.helper = EventWebhook()
        self.key = self.helper.convert_public_key_to_ecdsa(public_key_b64) if public_key_b64 else None

    def verify(self, body: bytes, signature: str | None, timestamp: str | None, window_seconds: int) -> None:
        if self.key is None:
            raise Rejected(503, "SendGrid verification key is not configured")
        if not signature or not timestamp:
            raise Rejected(401, f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER} header")
        check_fresh(timestamp, window_seconds, TIMESTAMP_HEADER)
        try:
            payload = body.decode("utf-8")
        except UnicodeDecodeError:
            raise Rejected(400, "body is not UTF-8 (SendGrid posts JSON)") from None
        try:
            valid = self.helper.verify_signature(payload, signature, timestamp, self.key)
        except (ValueError, TypeError, binascii.Error):
            valid = False  # malformed base64/DER signatures
        if not valid:
            raise Rejected(403, "signature does not match the body")


def check_sendgrid_events(body: bytes) -> int:
    """The batch must be a JSON array of events SendGrid could have sent; returns its length."""
    events = load_json(body)
    if not isinstance(events, list):
        raise Rejected(400, "body must be a JSON array of events")
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise Rejected(400, f"event {index} is not an object")
        missing = [name for name in REQUIRED_EVENT_FIELDS if name not in event]
        if missing:
            raise Rejected(400, f"event {index} lacks {', '.join(missing)}")
        if not _timestamp_ok(event["timestamp"]):
            raise Rejected(400, f"event {index}: timestamp must be a number (unix seconds)")
        if not _short_string(event["sg_event_id"]) or not _short_string(event["event"]):
            raise Rejected(400, f"event {index}: sg_event_id and event must be non-empty strings")
        for name in ("send_id", "email", "sg_message_id"):
            if name in event and event[name] is not None and not isinstance(event[name], str):
                raise Rejected(400, f"event {index}: {name} must be a string")
    return len(events)


# -- Twilio -----------------------------------------------------------------------------------
def parse_form(body: bytes) -> ImmutableMultiDict:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=bool(body))
    except (UnicodeDecodeError, ValueError) as error:
        raise Rejected(400, f"body is not form-encoded: {error}") from None
    return ImmutableMultiDict(pairs)


class TwilioVerifier:
    """Twilio's own RequestValidator (HMAC-SHA1 over the URL and the sorted parameters)."""

    def __init__(self, auth_token: str) -> None:
        self.validator = RequestValidator(auth_token) if auth_token else None

    def verify(self, url: str, params: ImmutableMultiDict, signature: str | None) -> None:
        if self.validator is None:
            raise Rejected(503, "Twilio auth token is not configured")
        if not signature:
            raise Rejected(401, f"missing {TWILIO_SIGNATURE_HEADER} header")
        if not self.validator.validate(url, params, signature):
            raise Rejected(403, "X-Twilio-Signature does not match the URL and parameters")


def _required(params: Mapping[str, str], *names: str) -> None:
    missing = [name for name in names if name not in params]
    if missing:
        raise Rejected(400, f"missing parameter(s) {', '.join(missing)}")
    sid = params.get("MessageSid", "")
    if not _TWILIO_SID.match(sid):
        raise Rejected(400, "MessageSid is not a Twilio message SID")


def _raw_dlr_done_date(value: str | None) -> float | None:
    """Twilio's carrier receipt time ``YYMMDDhhmm`` (UTC) when present and readable."""
    if not value:
        return None
    try:
        return dt.datetime.strptime(value, "%y%m%d%H%M").replace(tzinfo=dt.UTC).timestamp()
    except ValueError:
        return None


def twilio_status_record(params: ImmutableMultiDict, query_send_id: str | None, now: float) -> dict[str, Any]:
    """One status callback: event id = MessageSid + MessageStatus (a repeat is the same event)."""
    _required(params, "MessageSid", "MessageStatus", "To")
    status = params["MessageStatus"].lower()
    if status not in TWILIO_STATUSES:
        raise Rejected(400, f"unknown MessageStatus {params['MessageStatus'][:40]!r}")
    error_code = params.get("ErrorCode") or None
    change = None
    if status in ("undelivered", "failed") and error_code in PERMANENT_SMS_ERRORS:
        change = {
            "channel": "sms",
            "address": params["To"],
            "is_contactable": False,
            "reason": PERMANENT_SMS_ERRORS[error_code],
        }
    return {
        "event_id": f"{params['MessageSid']}:{status}",
        "provider": "twilio",
        "claimed_send_id": query_send_id or None,
        "provider_message_id": params["MessageSid"],
        "event_type": status,
        "occurred_at": _raw_dlr_done_date(params.get("RawDlrDoneDate")) or now,
        "payload": dict(params),
        "is_about_a_send": True,
        "change": change,
    }


def twilio_inbound_record(params: ImmutableMultiDict, now: float) -> dict[str, Any]:
    """An SMS a customer sent us; opt-out/opt-in keywords change the sender's contactability."""
    _required(params, "MessageSid", "From", "To", "Body")
    keyword_change = sms_keyword_change(params["Body"])
    change = None
    if keyword_change is not None:
        is_contactable, reason = keyword_change
        change = {"channel": "sms", "address": params["From"], "is_contactable": is_contactable, "reason": reason}
    return {
        "event_id": f"{params['MessageSid']}:received",
        "provider": "twilio",
        "claimed_send_id": None,
        "provider_message_id": params["MessageSid"],
        "event_type": "inbound",
        "occurred_at": now,
        "payload": dict(params),
        "is_about_a_send": False,
        "change": change,
    }


# -- our own HMAC-signed endpoints (push receipts, app events) ---------------------------------
@dataclass(frozen=True)
class HmacScheme:
    """One endpoint signed with a shared secret: what it receives (for messages) and its two headers.
    One recipe for all of them, so a fix to the check is a fix everywhere."""

    what: str
    signature_header: str
    timestamp_header: str


PUSH_HMAC = HmacScheme("push receipt", PUSH_SIGNATURE_HEADER, PUSH_TIMESTAMP_HEADER)
APP_EVENTS_HMAC = HmacScheme("app event", APP_SIGNATURE_HEADER, APP_TIMESTAMP_HEADER)


def hmac_signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v1=`` + hex HMAC-SHA256 over ``timestamp + "." + body`` (what the app and the shop's backend send)."""
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return f"v1={mac.hexdigest()}"


def signed_headers(scheme: HmacScheme, secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """The headers a sender adds to ``body`` (a JSON document) for ``scheme``, signed at ``now`` (unix seconds)."""
    timestamp = str(int(time.time() if now is None else now))
    return {
        scheme.signature_header: hmac_signature(secret, timestamp, body),
        scheme.timestamp_header: timestamp,
        "Content-Type": JSON_TYPE,
    }


def app_event_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    """What a shop's backend sends with a ``POST /events/app`` body: ``X-Loyalty-App-Timestamp`` (unix seconds),
    ``X-Loyalty-App-Signature`` (``v1=`` + hex HMAC-SHA256 of ``timestamp + "." + body`` under
    ``LOYALTY_APP_EVENTS_SECRET``) and the JSON content type. Sign the exact bytes you send."""
    return signed_headers(APP_EVENTS_HMAC, secret, body, now)


def verify_hmac(scheme: HmacScheme, secret: str, body: bytes, headers: Mapping[str, str], window_seconds: int) -> None:
    """503 without a secret (nothing can be verified), 401 without the headers or outside the replay window,
    403 when the signature is not the body's."""
    if not secret:
        raise Rejected(503, f"{scheme.what} secret is not configured")
    signature, timestamp = headers.get(scheme.signature_header), headers.get(scheme.timestamp_header)
    if not signature or not timestamp:
        raise Rejected(401, f"missing {scheme.signature_header} or {scheme.timestamp_header} header")
    check_fresh(timestamp, window_seconds, scheme.timestamp_header)
    try:
        expected = hmac_signature(secret, timestamp, body)
    except UnicodeEncodeError:
        raise Rejected(401, f"{scheme.timestamp_header} is not a unix timestamp") from None
    if not hmac.compare_digest(signature.encode("utf-8", "replace"), expected.encode("ascii")):
        raise Rejected(403, f"{scheme.what} signature does not match the body")


# -- push receipts ----------------------------------------------------------------------------
def push_records(body: bytes) -> list[dict[str, Any]]:
    """Receipts: a JSON array of {event_id, event: delivered|open, message_id, timestamp,
    send_id?, token?}."""
    receipts = load_json(body)
    if not isinstance(receipts, list):
        raise Rejected(400, "body must be a JSON array of receipts")
    records = []
    for index, receipt in enumerate(receipts):
        if not isinstance(receipt, dict):
            raise Rejected(400, f"receipt {index} is not an object")
        missing = [name for name in ("event_id", "event", "message_id", "timestamp") if name not in receipt]
        if missing:
            raise Rejected(400, f"receipt {index} lacks {', '.join(missing)}")
        if not _short_string(receipt["event_id"]) or not _short_string(receipt["message_id"]):
            raise Rejected(400, f"receipt {index}: event_id and message_id must be non-empty strings")
        if receipt["event"] not in PUSH_EVENTS:
            raise Rejected(400, f"receipt {index}: event must be one of {sorted(PUSH_EVENTS)}")
        if not _timestamp_ok(receipt["timestamp"]):
            raise Rejected(400, f"receipt {index}: timestamp must be a number (unix seconds)")
        for name in ("send_id", "token"):
            if receipt.get(name) is not None and not isinstance(receipt[name], str):
                raise Rejected(400, f"receipt {index}: {name} must be a string")
        records.append(
            {
                "event_id": receipt["event_id"],
                "provider": "push",
                "claimed_send_id": receipt.get("send_id"),
                "provider_message_id": receipt["message_id"],
                "event_type": receipt["event"],
                "occurred_at": receipt["timestamp"],
                "payload": receipt,
                "is_about_a_send": True,
                "change": None,
            }
        )
    return records


# -- RFC 8058 one-click unsubscribe -----------------------------------------------------------
def unsubscribe_send_id(token: str, secret: str) -> str:
    if not secret:
        raise Rejected(503, "unsubscribe secret is not configured")
    try:
        return read_token(token, secret)
    except InvalidToken as error:
        raise Rejected(403, f"unsubscribe token refused: {error}") from None


def unsubscribe_record(send_id: str, now: float, user_agent: str | None) -> dict[str, Any]:
    return {
        "event_id": f"list-unsubscribe:{send_id}",
        "provider": "loyalty",
        "claimed_send_id": send_id,
        "provider_message_id": None,
        "event_type": "unsubscribe",
        "occurred_at": now,
        "payload": {"method": "rfc8058-one-click", "send_id": send_id, "user_agent": (user_agent or "")[:200]},
        "is_about_a_send": True,
        "change": {"channel": "email", "address": None, "is_contactable": False, "reason": "email_list_unsubscribe"},
    }
