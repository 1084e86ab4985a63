"""Read the project's Airflow connections, falling back to the project's own defaults.

Channel connections (host overridable, e.g. the provider emulator; extras are optional):
- `loyalty_sendgrid`: password = API key; extra `from_email`, `rate_limit_per_second`, and the one-click
  unsubscribe every marketing email carries: `unsubscribe_secret` (default LOYALTY_UNSUBSCRIBE_SECRET, the
  receiver's), `unsubscribe_url` (the receiver as the internet sees it, HTTPS in production; default
  LOYALTY_WEBHOOKS_PUBLIC_URL), `unsubscribe_mailto` (default unsubscribe@ the sender's domain).
- `loyalty_twilio`: login = account SID, password = auth token; extra `from_number`,
  `status_callback` (the receiver's `/webhooks/twilio/status` URL; default from
  LOYALTY_WEBHOOKS_PUBLIC_URL), `concurrency`, `rate_limit_per_second`.
- `loyalty_fcm`: extra `service_account` (the service account's JSON key, as an object or its text;
  google-auth mints and refreshes the OAuth 2 tokens) or `service_account_file` (a path to it); or,
  for tests, password = a fixed access token. Extra `project_id` (default: the service account's),
  `concurrency`, `rate_limit_per_second`.
Every channel: extra `lookup: "emulator"` lets crash reconciliation look send ids up at the
host's `/_emulator/messages` (authoritative); without it rows in doubt become `unknown`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported where used: Airflow and the provider clients are heavy
    from airflow.sdk import Connection

    from loyalty.channels.fcm_push import FcmPush
    from loyalty.channels.sendgrid_email import SendGridEmail
    from loyalty.channels.twilio_sms import TwilioSms
    from loyalty.ledger import Sender
    from loyalty.unsubscribe import UnsubscribeLinks

WAREHOUSE_CONN_ID = "loyalty_warehouse"
SENDGRID_CONN_ID = "loyalty_sendgrid"
TWILIO_CONN_ID = "loyalty_twilio"
FCM_CONN_ID = "loyalty_fcm"
CHANNEL_CONN_IDS = {"email": SENDGRID_CONN_ID, "sms": TWILIO_CONN_ID, "push": FCM_CONN_ID}
DEFAULT_WEBHOOKS_URL = "http://127.0.0.1:8090"


def _connection(conn_id: str) -> Connection | None:
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException and friends: the connection is simply not defined
        return None


def warehouse_url() -> str:
    """The warehouse URL from the `loyalty_warehouse` connection, else the project's resolution."""
    from loyalty.warehouse import resolve_url, url_from_connection_fields

    conn = _connection(WAREHOUSE_CONN_ID)
    if conn is None or not conn.host:
        return resolve_url()
    return url_from_connection_fields(conn.host, conn.port, conn.login, conn.password, conn.schema)


@dataclass(frozen=True)
class SendGridSettings:
    api_key: str
    host: str | None
    from_email: str


def sendgrid_settings() -> SendGridSettings:
    """API key in the password, host overridable (the emulator), sender in extra.from_email."""
    conn = _connection(SENDGRID_CONN_ID)
    if conn is None:
        raise RuntimeError(
            f"Airflow connection {SENDGRID_CONN_ID!r} is not defined: set AIRFLOW_CONN_LOYALTY_SENDGRID "
            "(the demo points it at the local provider emulator)"
        )
    extra = conn.extra_dejson or {}
    return SendGridSettings(
        api_key=conn.password or "",
        host=conn.host or None,
        from_email=extra.get("from_email", "loyalty@example.com"),
    )


def _required(conn_id: str) -> Connection:
    conn = _connection(conn_id)
    if conn is None:
        raise RuntimeError(
            f"Airflow connection {conn_id!r} is not defined: set AIRFLOW_CONN_{conn_id.upper()} "
            "(the demo points it at the local provider emulator)"
        )
    return conn


def _rate(extra: dict[str, Any]) -> float | None:
    value = extra.get("rate_limit_per_second")
    return float(value) if value else None


def _lookup_host(conn: Connection, extra: dict[str, Any]) -> str | None:
    return conn.host if extra.get("lookup") == "emulator" and conn.host else None


def email_sender() -> SendGridEmail:
    """The real SendGrid client configured from the `loyalty_sendgrid` connection."""
    from loyalty.channels.sendgrid_email import SendGridEmail

    conn = _required(SENDGRID_CONN_ID)
    extra = conn.extra_dejson or {}
    settings = sendgrid_settings()
    return SendGridEmail(
        settings.api_key,
        settings.from_email,
        host=settings.host,
        rate_limit=_rate(extra),
        lookup_host=_lookup_host(conn, extra),
        unsubscribe=unsubscribe_links(extra, settings.from_email),
    )


def unsubscribe_links(extra: dict[str, Any], from_email: str) -> UnsubscribeLinks | None:
    """The one-click unsubscribe of marketing emails; None without a secret (the ledger then refuses to
    send marketing email, leaving the rows pending)."""
    from loyalty.unsubscribe import UnsubscribeLinks

    secret = extra.get("unsubscribe_secret") or os.environ.get("LOYALTY_UNSUBSCRIBE_SECRET", "")
    if not secret:
        return None
    base_url = extra.get("unsubscribe_url") or os.environ.get("LOYALTY_WEBHOOKS_PUBLIC_URL", DEFAULT_WEBHOOKS_URL)
    domain = from_email.rpartition("@")[2] or "localhost"
    return UnsubscribeLinks(base_url.rstrip("/"), secret, extra.get("unsubscribe_mailto", f"unsubscribe@{domain}"))


def sms_sender() -> TwilioSms:
    """The real Twilio client configured from the `loyalty_twilio` connection."""
    from loyalty.channels.twilio_sms import TwilioSms

    conn = _required(TWILIO_CONN_ID)
    extra = conn.extra_dejson or {}
    webhooks = os.environ.get("LOYALTY_WEBHOOKS_PUBLIC_URL", DEFAULT_WEBHOOKS_URL).rstrip("/")
    return TwilioSms(
        account_sid=conn.login or "",
        auth_token=conn.password or "",
        from_number=extra.get("from_number", "+15005550006"),
        status_callback=extra.get("status_callback", f"{webhooks}/webhooks/twilio/status"),
        host=conn.host or None,
        concurrency=int(extra.get("concurrency", 16)),
        rate_limit=_rate(extra),
        lookup_host=_lookup_host(conn, extra),
    )


def push_sender() -> FcmPush:
    """The FCM HTTP v1 client configured from the `loyalty_fcm` connection."""
    from loyalty.channels.fcm_push import FcmPush, ServiceAccountBearer

    conn = _required(FCM_CONN_ID)
    extra = conn.extra_dejson or {}
    info = _service_account(extra)
    project_id = extra.get("project_id") or (info or {}).get("project_id")
    if not project_id:
        raise RuntimeError(f"Airflow connection {FCM_CONN_ID!r} needs extra.project_id (or a service account)")
    if info is None and not conn.password:
        raise RuntimeError(
            f"Airflow connection {FCM_CONN_ID!r} needs extra.service_account (the JSON key) or "
            "extra.service_account_file"
        )
    return FcmPush(
        project_id=project_id,
        access_token=None if info is not None else conn.password,
        auth=ServiceAccountBearer.from_info(info) if info is not None else None,
        host=conn.host or None,
        concurrency=int(extra.get("concurrency", 16)),
        rate_limit=_rate(extra),
        lookup_host=_lookup_host(conn, extra),
    )


def _service_account(extra: dict[str, Any]) -> dict[str, Any] | None:
    """The service account's JSON key from the connection: inline (object or text) or a file."""
    inline = extra.get("service_account")
    if isinstance(inline, str):
        inline = json.loads(inline)
    if inline is None and extra.get("service_account_file"):
        inline = json.loads(Path(extra["service_account_file"]).read_text())
    return inline


SENDERS: dict[str, Callable[[], Sender]] = {"email": email_sender, "sms": sms_sender, "push": push_sender}


def channel_sender(channel: str) -> Sender | None:
    """The client of one channel ('reward' needs none: the ledger grants it)."""
    return SENDERS[channel]() if channel in SENDERS else None


def channel_sender_if_configured(channel: str) -> Sender | None:
    """The channel's client, or None when its connection is not defined (for reconciliation)."""
    if channel not in CHANNEL_CONN_IDS or _connection(CHANNEL_CONN_IDS[channel]) is None:
        return None
    return channel_sender(channel)
