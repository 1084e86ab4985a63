"""Provider checks: each channel's Airflow connection is defined and its credentials are accepted by a
harmless call through the same client the send tasks build (loyalty.orchestration.connections):

- SendGrid: GET /v3/scopes (the key is accepted and may send mail);
- Twilio: GET /2010-04-01/Accounts/{sid}.json (SID and auth token accepted, the account active);
- FCM: a token minted from the service account, then a `validate_only` send to a topic (nothing is delivered).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from loyalty.doctor.context import Deployment, first_line
from loyalty.doctor.result import CheckResult, fail, ok, skip
from loyalty.orchestration import connections

if TYPE_CHECKING:
    from loyalty.channels.fcm_push import FcmPush
    from loyalty.channels.sendgrid_email import SendGridEmail
    from loyalty.channels.twilio_sms import TwilioSms

PROBE_TIMEOUT_S = 10
PROBE_TOPIC = "loyalty-doctor"  # a validate_only send names a topic: FCM checks it and delivers nothing


class Refused(Exception):
    """The provider answered and said no: the message and the fix to print."""

    def __init__(self, message: str, fix: str) -> None:
        super().__init__(message)
        self.message, self.fix = message, fix


@dataclass(frozen=True)
class Provider:
    channel: str
    label: str
    conn_id: str
    example: str  # how to define the connection, in the form the README uses
    probe: Callable[[Any], str]  # the harmless call: a line saying what was proven, or raises Refused
    host: Callable[[Any], str]


def _sendgrid(sender: SendGridEmail) -> str:
    from python_http_client import exceptions

    sender.client.client.timeout = PROBE_TIMEOUT_S
    fix = "Put a valid SendGrid API key (with Mail Send) in the loyalty_sendgrid connection's password."
    try:
        response = sender.client.client.scopes.get()
    except exceptions.HTTPError as error:
        if error.status_code in (401, 403):
            raise Refused(f"the SendGrid API key was rejected ({error.status_code})", fix) from None
        raise Refused(f"SendGrid answered {error.status_code} to GET /v3/scopes", fix) from None
    scopes = json.loads(response.body or b"{}").get("scopes", [])
    if "mail.send" not in scopes:
        raise Refused(
            "the SendGrid API key is accepted but may not send mail (no mail.send scope)",
            "Give the key Mail Send access in SendGrid (Settings → API Keys), or put a key that has it in "
            "the loyalty_sendgrid connection's password.",
        )
    return "API key accepted (GET /v3/scopes: mail.send allowed)"


def _twilio(sender: TwilioSms) -> str:
    from twilio.base.exceptions import TwilioRestException

    sid = sender.client.account_sid or ""
    fix = "Put the account SID in the loyalty_twilio connection's login and its auth token in the password."
    if not sid:
        raise Refused("the loyalty_twilio connection has no login (the account SID)", fix)
    try:
        account = sender.client.api.v2010.accounts(sid).fetch()
    except TwilioRestException as error:
        if error.status in (401, 403, 404):
            message = f"Twilio rejected account {sid} and its auth token ({error.status}, code {error.code})"
            raise Refused(message, fix) from None
        raise Refused(f"Twilio answered {error.status} (code {error.code}) to fetching account {sid}", fix) from None
    if account.status != "active":
        raise Refused(
            f"the Twilio account {sid} is {account.status}: it sends nothing",
            "Reactivate the account in Twilio's console, or put an active account's SID and token in loyalty_twilio.",
        )
    return f"account {sid} accepted and active"


def _fcm(sender: FcmPush) -> str:
    from google.auth import exceptions as google_errors

    from loyalty.channels.fcm_push import ServiceAccountBearer

    project = sender.path.split("/")[3]
    auth = sender.client.auth
    if isinstance(auth, ServiceAccountBearer):
        try:
            auth.token()
        except google_errors.GoogleAuthError as error:
            raise Refused(
                f"Google refused the service account's token request: {first_line(error)}",
                "Put a current service-account key (JSON) in the loyalty_fcm connection's extra.service_account "
                "(Firebase console → Project settings → Service accounts → Generate new private key).",
            ) from None
    body = {"validate_only": True, "message": {"topic": PROBE_TOPIC, "notification": {"title": "loyalty doctor"}}}
    response = sender.client.post(sender.path, json=body)
    if response.status_code == 200:
        return f"project {project} accepts the credentials (validate_only send: nothing delivered)"
    try:
        google_error = response.json().get("error", {})
    except ValueError:
        google_error = {}
    status, text = google_error.get("status", ""), google_error.get("message", response.text[:120])
    detail = f"{response.status_code} {status}: {text}"
    if response.status_code == 401:
        raise Refused(
            f"FCM rejected the access token ({detail})",
            "Put a valid service-account key in the loyalty_fcm connection's extra.service_account (or a current "
            "access token in its password).",
        )
    raise Refused(
        f"FCM refused project {project} ({detail})",
        "Set the loyalty_fcm connection's extra.project_id to the service account's Firebase project, and give "
        "the account the Firebase Cloud Messaging API Admin role.",
    )


PROVIDERS = {
    "email": Provider(
        "email",
        "SendGrid",
        connections.SENDGRID_CONN_ID,
        """AIRFLOW_CONN_LOYALTY_SENDGRID='{"conn_type": "http", "password": "SG.<api key>", """
        """"extra": {"from_email": "crm@shop.com"}}'""",
        _sendgrid,
        lambda sender: str(sender.client.host),
    ),
    "sms": Provider(
        "sms",
        "Twilio",
        connections.TWILIO_CONN_ID,
        """AIRFLOW_CONN_LOYALTY_TWILIO='{"conn_type": "http", "login": "<account SID>", "password": "<auth token>", """
        """"extra": {"from_number": "+15551234567"}}'""",
        _twilio,
        lambda sender: sender.http.base.geturl() if sender.http.base else "https://api.twilio.com",
    ),
    "push": Provider(
        "push",
        "FCM",
        connections.FCM_CONN_ID,
        """AIRFLOW_CONN_LOYALTY_FCM='{"conn_type": "http", "extra": {"service_account_file": "/path/key.json"}}'""",
        _fcm,
        lambda sender: str(sender.client.base_url),
    ),
}


def provider_check(channel: str) -> Callable[[Deployment], CheckResult]:
    """The check of one channel's connection and credentials."""
    provider = PROVIDERS[channel]
    name = f"providers.{provider.label.lower()}"

    def check(ctx: Deployment) -> CheckResult:
        users = ctx.workflows.channels().get(channel, [])
        define = f"Define the Airflow connection {provider.conn_id} for every Airflow process, e.g. {provider.example}"
        try:
            sender = ctx.sender(channel)
        except Exception as error:  # the connection is defined but the client cannot be built from it
            return fail(name, f"{provider.conn_id}: {first_line(error)}", define)
        if sender is None:
            if not users:
                return ok(name, f"{provider.conn_id} not defined; no workflow sends {channel}")
            missing = f"Airflow connection {provider.conn_id} is not defined; {_workflows(users)} send {channel}"
            return fail(name, missing, define)
        host = provider.host(sender)
        try:
            proven = provider.probe(sender)
        except Refused as refused:
            return fail(name, f"{refused.message} (at {host})", refused.fix)
        except Exception as error:  # no answer: DNS, refused connection, timeout, TLS
            return fail(
                name,
                f"cannot reach {provider.label} at {host}: {first_line(error)}",
                f"Check the {provider.conn_id} connection's host ({host}) and this machine's network or proxy "
                "settings towards it.",
            )
        return ok(name, f"{proven} at {host}")

    check.__name__ = check.__qualname__ = f"{channel}_provider"
    return check


def unsubscribe(ctx: Deployment) -> CheckResult:
    """Marketing email carries a signed one-click unsubscribe; without its secret none is sent."""
    name = "providers.sendgrid.unsubscribe"
    marketing = [spec.id for spec in ctx.workflows.specs if spec.sends_marketing_email(spec.channels())]
    if not marketing:
        return ok(name, "no workflow sends marketing email")
    try:
        sender = ctx.sender("email")
    except Exception:  # reported by the SendGrid check
        return skip(name, f"not checked: {connections.SENDGRID_CONN_ID} is unusable")
    if sender is None:
        return skip(name, f"not checked: {connections.SENDGRID_CONN_ID} is not defined")
    links = getattr(sender, "unsubscribe", None)
    if links is None:
        return fail(
            name,
            f"no unsubscribe secret: the marketing emails of {_workflows(marketing)} are never sent "
            "(rows stay pending)",
            "Set LOYALTY_UNSUBSCRIBE_SECRET (the receiver's value) for the Airflow workers, or "
            f"extra.unsubscribe_secret in the {connections.SENDGRID_CONN_ID} connection.",
        )
    return ok(name, f"marketing email carries a signed one-click unsubscribe to {links.base_url}")


def _workflows(ids: list[str], most: int = 3) -> str:
    named = ", ".join(ids[:most]) + (f" and {len(ids) - most} more" if len(ids) > most else "")
    return f"workflow(s) {named}"
