"""SendGrid v3 Mail Send and Signed Event Webhook, as documented.

Validates ``POST /v3/mail/send`` the way SendGrid does (errors in its ``{"errors": [...]}``
shape), records one message per recipient with a deterministic fate, and turns each message
into SendGrid-shaped events (``processed``, ``delivered``/``bounce``, ``open``, ``click``)
that the webhook dispatcher posts, signed with ECDSA P-256 like the Signed Event Webhook.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeGuard

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults
from .config import EmulatorConfig
from .fate import EmailFate, email_fate
from .state import EmulatorState, Fault, RequestRecord
from .webhooks import Event, Signer, WebhookDispatcher

CHANNEL = "email"
DISPATCHER = "sendgrid"
MAX_PERSONALIZATIONS = 1000
MAX_RECIPIENTS = 1000
MAX_BODY_BYTES = 30 * 1024 * 1024
SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
_EMAIL_RE = re.compile(r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\"]+$")


class ValidationError(Exception):
    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(errors[0]["message"] if errors else "invalid")
        self.errors = errors


def error(message: str, field: str | None = None) -> dict[str, Any]:
    return {"message": message, "field": field, "help": None}


def error_response(status: int, errors: list[dict[str, Any]], **headers: str) -> JSONResponse:
    return JSONResponse({"errors": errors}, status_code=status, headers=headers or None)


@dataclass(slots=True)
class EmailMessage:
    """One recipient of one accepted Mail Send request."""

    x_message_id: str
    sg_message_id: str
    to: str
    from_email: str
    subject: str | None
    categories: list[str]
    custom_args: dict[str, str]
    send_id: str | None
    sent_at: float
    fate: EmailFate
    kind: str = "to"
    channel: str = CHANNEL
    headers: dict[str, str] = field(default_factory=dict)  # the request's, then the personalization's
    html: str | None = None  # the text/html content with the personalization's substitutions made

    def to_dict(self) -> dict[str, Any]:
        f = self.fate
        return {
            "channel": self.channel,
            "x_message_id": self.x_message_id,
            "sg_message_id": self.sg_message_id,
            "to": self.to,
            "kind": self.kind,
            "from": self.from_email,
            "subject": self.subject,
            "categories": self.categories,
            "custom_args": self.custom_args,
            "headers": self.headers,
            "html": self.html,
            "send_id": self.send_id,
            "sent_at": datetime.fromtimestamp(self.sent_at, UTC).isoformat(),
            "fate": f.status,
            "delivered": f.delivered,
            "opened": f.opened,
            "clicked": f.clicked,
            "unsubscribed": f.unsubscribed_at is not None,
            "spam_reported": f.spam_reported_at is not None,
            "events": {
                k: v
                for k, v in (
                    ("processed", f.processed_at),
                    ("delivered", f.delivered_at),
                    ("bounce", f.bounced_at),
                    ("open", f.opened_at),
                    ("click", f.clicked_at),
                    ("unsubscribe", f.unsubscribed_at),
                    ("spamreport", f.spam_reported_at),
                )
                if v is not None
            },
        }


def event_id(sg_message_id: str, event: str) -> str:
    """Stable per message and event type, so a redelivered event carries the same id."""
    digest = hashlib.blake2b(f"{sg_message_id}\x1f{event}".encode(), digest_size=16).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def expand_events(m: EmailMessage) -> list[Event]:
    """SendGrid Event Webhook objects for one message; custom args become top-level keys."""
    f = m.fate
    base: Event = {
        **m.custom_args,
        "email": m.to,
        "sg_message_id": m.sg_message_id,
        "smtp-id": f"<{m.x_message_id}@emulator.sendgrid.local>",
        "category": m.categories,
    }

    def ev(name: str, ts: int, **extra: Any) -> Event:
        return {
            **base,
            "timestamp": ts,
            "event": name,
            "sg_event_id": event_id(m.sg_message_id, name),
            **extra,
        }

    events = [ev("processed", f.processed_at)]
    if f.delivered:
        assert f.delivered_at is not None
        events.append(
            ev(
                "delivered",
                f.delivered_at,
                response="250 2.0.0 OK",
                ip="127.0.0.1",
                tls=1,
            )
        )
    else:
        assert f.bounced_at is not None
        events.append(
            ev(
                "bounce",
                f.bounced_at,
                type="bounce",
                reason=f.bounce_reason,
                status="5.1.1",
                bounce_classification="Invalid Address",
                ip="127.0.0.1",
                tls=1,
            )
        )
    if f.opened_at is not None:
        events.append(
            ev(
                "open",
                f.opened_at,
                useragent="Mozilla/5.0 (emulator)",
                ip="203.0.113.7",
                sg_machine_open=False,
            )
        )
    if f.clicked_at is not None:
        events.append(
            ev(
                "click",
                f.clicked_at,
                url=f.click_url,
                url_offset={"index": 0, "type": "html"},
                useragent="Mozilla/5.0 (emulator)",
                ip="203.0.113.7",
            )
        )
    if f.unsubscribed_at is not None:
        events.append(ev("unsubscribe", f.unsubscribed_at))
    if f.spam_reported_at is not None:
        events.append(ev("spamreport", f.spam_reported_at))
    return events


def signer(key: ec.EllipticCurvePrivateKey) -> Signer:
    """Sign like SendGrid: ECDSA P-256/SHA-256 over timestamp + body, base64 DER signature."""

    def sign(body: bytes, batch: list[Event], url: str) -> dict[str, str]:
        ts = str(int(time.time()))
        signature = key.sign(ts.encode("ascii") + body, ec.ECDSA(hashes.SHA256()))
        return {
            "Content-Type": "application/json",
            "User-Agent": "SendGrid Event API",
            SIGNATURE_HEADER: base64.b64encode(signature).decode("ascii"),
            TIMESTAMP_HEADER: ts,
        }

    return sign


def make_dispatcher(config: EmulatorConfig) -> WebhookDispatcher:
    return WebhookDispatcher(
        DISPATCHER,
        config.webhook_url,
        expand=expand_events,
        sign=signer(config.signing_key),
        batch_size=config.webhook_batch_size,
        concurrency=config.webhook_concurrency,
        max_attempts=config.webhook_max_attempts,
        backoff_s=config.webhook_backoff_s,
        backoff_max_s=config.webhook_backoff_max_s,
        timeout_s=config.webhook_timeout_s,
        linger_s=config.webhook_linger_s,
        duplicate_rate=config.webhook_duplicate_rate,
        out_of_order=config.webhook_out_of_order,
        seed=config.seed,
    )


# -- validation --------------------------------------------------------------------------------
def _valid_email(value: Any) -> TypeGuard[str]:
    return isinstance(value, str) and len(value) <= 320 and _EMAIL_RE.match(value) is not None


def _check_custom_args(value: Any, field: str, errors: list[dict[str, Any]]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        errors.append(error("The custom_args parameter must be an object of string values.", field))
        return {}
    return value


def validate(body: Any) -> None:
    """Raise ValidationError with every problem found, in SendGrid's wording where known."""
    errors: list[dict[str, Any]] = []
    if not isinstance(body, dict):
        raise ValidationError([error("Bad Request")])
    pers = body.get("personalizations")
    template = body.get("template_id")
    if not isinstance(pers, list) or not 1 <= len(pers) <= MAX_PERSONALIZATIONS:
        errors.append(
            error(
                "The personalizations field is required and must have at least one "
                f"personalization and no more than {MAX_PERSONALIZATIONS}.",
                "personalizations",
            )
        )
        pers = []
    seen: dict[str, str] = {}
    recipients = 0
    all_have_subject = bool(pers)
    for i, p in enumerate(pers):
        if len(errors) >= 50:
            break
        if not isinstance(p, dict):
            errors.append(error("Each personalization must be an object.", f"personalizations.{i}"))
            continue
        if not (isinstance(p.get("subject"), str) and p["subject"]):
            all_have_subject = False
        to = p.get("to")
        if not isinstance(to, list) or not to:
            errors.append(
                error(
                    "The to array is required for all personalization objects, and must have at "
                    "least one email object with a valid email address.",
                    f"personalizations.{i}.to",
                )
            )
        for kind in ("to", "cc", "bcc"):
            addrs = p.get(kind)
            if addrs is None or (kind == "to" and not isinstance(addrs, list)):
                continue
            if not isinstance(addrs, list):
                errors.append(
                    error(
                        f"The {kind} field must be an array.",
                        f"personalizations.{i}.{kind}",
                    )
                )
                continue
            for j, a in enumerate(addrs):
                email = a.get("email") if isinstance(a, dict) else None
                if not _valid_email(email):
                    errors.append(
                        error(
                            "Does not contain a valid address.",
                            f"personalizations.{i}.{kind}.{j}.email",
                        )
                    )
                    continue
                recipients += 1
                key = email.lower()
                if key in seen:
                    errors.append(
                        error(
                            "Each email address in the personalization block should be unique "
                            "between to, cc, and bcc. We found the first duplicate instance of "
                            f"[{email}] in the personalizations.{i}.{kind} field.",
                            f"personalizations.{i}.{kind}",
                        )
                    )
                seen[key] = f"{i}.{kind}"
        _check_custom_args(p.get("custom_args"), f"personalizations.{i}.custom_args", errors)
        _check_headers(p.get("headers"), f"personalizations.{i}.headers", errors)
    _check_headers(body.get("headers"), "headers", errors)
    if recipients > MAX_RECIPIENTS:
        errors.append(
            error(
                f"The total number of recipients must be no more than {MAX_RECIPIENTS}.",
                "personalizations",
            )
        )
    sender = body.get("from")
    if not isinstance(sender, dict) or not _valid_email(sender.get("email")):
        errors.append(
            error(
                "The from object must be provided for every email send. It is an object that "
                "requires the email parameter, but may also contain a name parameter.",
                "from.email",
            )
        )
    subject = body.get("subject")
    if not (isinstance(subject, str) and subject) and not template and not all_have_subject:
        errors.append(
            error(
                "The subject is required. You can get around this requirement if you use a "
                "template with a subject defined or if every personalization has a subject defined.",
                "subject",
            )
        )
    content = body.get("content")
    content_ok = (
        isinstance(content, list)
        and content
        and all(
            isinstance(c, dict) and isinstance(c.get("type"), str) and isinstance(c.get("value"), str) and c["value"]
            for c in content
        )
    )
    if not content_ok and not template:
        errors.append(
            error(
                "Unless a valid template_id is provided, the content parameter is required. "
                "There must be at least one defined content block.",
                "content",
            )
        )
    categories = body.get("categories")
    if categories is not None and (
        not isinstance(categories, list)
        or len(categories) > 10
        or not all(isinstance(c, str) and 0 < len(c) <= 255 for c in categories)
    ):
        errors.append(
            error(
                "Categories must be a list of at most 10 strings of up to 255 characters.",
                "categories",
            )
        )
    _check_custom_args(body.get("custom_args"), "custom_args", errors)
    if errors:
        raise ValidationError(errors)


# -- recording ---------------------------------------------------------------------------------
def accept(state: EmulatorState, config: EmulatorConfig, body: dict[str, Any]) -> tuple[str, int]:
    """Record one message per recipient of a validated body; returns (X-Message-Id, count)."""
    x_message_id = state.new_id()
    now = state.clock.now()
    seed, rates = config.seed, config.email
    categories = list(body.get("categories") or [])
    req_args = body.get("custom_args") or {}
    from_email = body["from"]["email"]
    subject = body.get("subject")
    html = next((c.get("value") for c in body.get("content") or () if c.get("type") == "text/html"), None)
    n = 0
    for p in body["personalizations"]:
        args = {**req_args, **p["custom_args"]} if p.get("custom_args") else dict(req_args)
        send_id = args.get("send_id")
        p_subject = p.get("subject") or subject
        headers = {**(body.get("headers") or {}), **(p.get("headers") or {})}
        p_html = html
        for tag, value in (p.get("substitutions") or {}).items():
            p_html = p_html.replace(tag, str(value)) if p_html is not None else None
        for kind in ("to", "cc", "bcc"):
            for a in p.get(kind) or ():
                sg_message_id = f"{x_message_id}.recvd-{n}"
                email = a["email"]
                fate = email_fate(seed, email, send_id or sg_message_id, now, rates)
                message = EmailMessage(
                    x_message_id,
                    sg_message_id,
                    email,
                    from_email,
                    p_subject,
                    categories,
                    args,
                    send_id,
                    now,
                    fate,
                    kind,
                    headers=headers,
                    html=p_html,
                )
                state.add_message(message, fate.event_count, DISPATCHER)
                n += 1
    return x_message_id, n


def _check_headers(headers: Any, field_name: str, errors: list[dict[str, Any]]) -> None:
    """SendGrid's rule: headers is an object of string values (it answers 400 otherwise)."""
    if headers is None:
        return
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        errors.append(error("The headers must be a collection of key/value pairs of strings.", field_name))


# The scopes of the emulator's one API key: what the project calls (a restricted key with Mail Send and the
# Event Webhook settings would show the same at SendGrid).
KEY_SCOPES = ("mail.send", "user.webhooks.event.settings.read", "user.webhooks.event.settings.update")


def _authorized(request: Request, config: EmulatorConfig) -> JSONResponse | None:
    if config.api_key is None:
        return None
    header = request.headers.get("authorization")
    if not header:
        return error_response(401, [error("authorization required")])
    if header != f"Bearer {config.api_key}":
        return error_response(
            401,
            [error("The provided authorization grant is invalid, expired, or revoked")],
        )
    return None


def routes(state: EmulatorState, config: EmulatorConfig) -> list[Route]:
    """The SendGrid endpoints, bound to one state and config."""

    async def mail_send(request: Request) -> Response:
        denied = _authorized(request, config)
        raw = await request.body()
        if denied is not None:
            state.record_request(RequestRecord(CHANNEL, request.url.path, 401, len(raw), 0, None, state.clock.now()))
            return denied
        fault = state.take_fault(CHANNEL)
        await faults.pause(fault, config.email.latency_s)
        if fault is not None and not fault.after_accept:
            state.record_request(
                RequestRecord(
                    CHANNEL,
                    request.url.path,
                    fault.status,
                    len(raw),
                    0,
                    None,
                    state.clock.now(),
                )
            )
            return _fault_response(fault, state)
        if len(raw) > MAX_BODY_BYTES:
            state.record_request(RequestRecord(CHANNEL, request.url.path, 413, len(raw), 0, None, state.clock.now()))
            return error_response(413, [error("The JSON payload is too large.")])
        try:
            body = json.loads(raw)
            validate(body)
        except (ValueError, UnicodeDecodeError):
            status, response = 400, error_response(400, [error("Bad Request")])
        except ValidationError as exc:
            status, response = 400, error_response(400, exc.errors)
        else:
            x_message_id, n = accept(state, config, body)
            state.record_request(
                RequestRecord(
                    CHANNEL,
                    request.url.path,
                    202,
                    len(raw),
                    n,
                    x_message_id,
                    state.clock.now(),
                )
            )
            if fault is not None and fault.kind != "timeout":
                return _fault_response(fault, state)
            return Response(status_code=202, headers={"X-Message-Id": x_message_id})
        state.record_request(RequestRecord(CHANNEL, request.url.path, status, len(raw), 0, None, state.clock.now()))
        return response

    async def signed_settings(request: Request) -> Response:
        denied = _authorized(request, config)
        if denied is not None:
            return denied
        return JSONResponse({"enabled": True, "public_key": config.public_key_b64})

    async def event_webhook_settings(request: Request) -> Response:
        """SendGrid's Event Webhook settings: where to post events (PATCH `url`, `enabled`)."""
        denied = _authorized(request, config)
        if denied is not None:
            return denied
        if request.method == "PATCH":
            try:
                data = json.loads(await request.body())
            except (ValueError, UnicodeDecodeError):
                return error_response(400, [error("Bad Request")])
            if not isinstance(data, dict) or not isinstance(data.get("url", ""), str):
                return error_response(400, [error("url must be a string", "url")])
            enabled = bool(data.get("enabled", True))
            config.webhook_url = (data.get("url") or config.webhook_url) if enabled else None
            state.dispatchers[DISPATCHER].url = config.webhook_url
        return JSONResponse({"enabled": config.webhook_url is not None, "url": config.webhook_url or ""})

    async def scopes(request: Request) -> Response:
        """What the API key may do (GET /v3/scopes): a harmless call that proves the key is accepted."""
        denied = _authorized(request, config)
        if denied is not None:
            return denied
        return JSONResponse({"scopes": list(KEY_SCOPES)})

    return [
        Route("/v3/mail/send", mail_send, methods=["POST"]),
        Route("/v3/scopes", scopes, methods=["GET"]),
        Route("/v3/user/webhooks/event/settings/signed", signed_settings, methods=["GET"]),
        Route("/v3/user/webhooks/event/settings", event_webhook_settings, methods=["GET", "PATCH"]),
    ]


def _fault_response(fault: Fault, state: EmulatorState) -> Response:
    def sendgrid_error(status: int, headers: dict[str, str]) -> Response:
        message = "too many requests" if status == 429 else "internal server error (injected fault)"
        return error_response(status, [error(message)], **headers, **faults.rate_limit_reset(fault))

    return faults.respond(fault, sendgrid_error)
