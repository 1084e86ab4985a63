"""Twilio Programmable Messaging, as documented: the Messages API and signed webhooks.

``POST /2010-04-01/Accounts/{AccountSid}/Messages.json`` (form-encoded, HTTP Basic auth with
the account SID and auth token) answers 201 with a Message resource (``sid`` "SM…", ``status``
"queued"), or Twilio's error shape ``{"code", "message", "more_info", "status"}``: 21211 for an
invalid 'To', 21610 for a number that replied STOP, 21602/21603/21604 for missing fields.
``GET /2010-04-01/Accounts/{AccountSid}.json`` answers the (active) Account resource, or 401 (20003).

Each accepted message posts status callbacks (queued, sent, delivered | undelivered, or failed
with ``ErrorCode``) to its ``StatusCallback`` URL, form-encoded and signed with
``X-Twilio-Signature``: base64 HMAC-SHA1, keyed by the auth token, over the full URL followed by
every POST parameter name and value sorted by name. A recipient's reply (STOP at the configured
rate, or one sent through ``/_emulator/sms/inbound``) is posted to ``sms_inbound_url`` the same
way. No Twilio field carries our send id: the emulator reads it from the ``send_id`` query
parameter of the StatusCallback URL, for ``/_emulator/messages?send_id=``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlparse

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults
from .config import EmulatorConfig
from .fate import SmsFate, sms_fate
from .state import EmulatorState, RequestRecord
from .webhooks import Event, WebhookDispatcher

CHANNEL = "sms"
DISPATCHER = "twilio"
API_VERSION = "2010-04-01"
SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_BODY_CHARS = 1600
DEFAULT_FROM = "+15005550006"  # used when only a MessagingServiceSid is given
_E164 = re.compile(r"^\+[1-9]\d{7,14}$")
# Twilio's default opt-out handling (https://help.twilio.com/articles/223134027).
OPT_OUT_KEYWORDS = frozenset({"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"})
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"})


def twilio_error(status: int, code: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse(
        {"code": code, "message": message, "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
        status_code=status,
        headers=headers or None,
    )


_FAULT_CODES = {429: (20429, "Too Many Requests"), 503: (20503, "Service Unavailable")}


def _fault_error(status: int, headers: dict[str, str]) -> Response:
    code, message = _FAULT_CODES.get(status, (20500, "Internal Server Error"))
    return twilio_error(status, code, message, **headers)


def signature(auth_token: str, url: str, params: dict[str, str]) -> str:
    """X-Twilio-Signature: base64 HMAC-SHA1 over the URL and the sorted name+value pairs."""
    payload = url + "".join(name + params[name] for name in sorted(params))
    digest = hmac.new(auth_token.encode("utf-8"), payload.encode("utf-8"), hashlib.sha1).digest()
    return base64.b64encode(digest).decode("ascii")


def _rfc2822(unix: float) -> str:
    return format_datetime(datetime.fromtimestamp(unix, UTC), usegmt=False).replace("-0000", "+0000")


@dataclass(slots=True)
class SmsMessage:
    """One accepted outbound message."""

    sid: str
    account_sid: str
    to: str
    from_: str
    body: str
    status_callback: str | None
    messaging_service_sid: str | None
    send_id: str | None
    sent_at: float
    fate: SmsFate
    inbound_url: str | None
    channel: str = CHANNEL

    def to_dict(self) -> dict[str, Any]:
        f = self.fate
        return {
            "channel": self.channel,
            "sid": self.sid,
            "to": self.to,
            "from": self.from_,
            "body": self.body,
            "status_callback": self.status_callback,
            "send_id": self.send_id,
            "sent_at": datetime.fromtimestamp(self.sent_at, UTC).isoformat(),
            "fate": f.status,
            "delivered": f.status == "delivered",
            "error_code": f.error_code,
            "replied_stop": f.replied_stop_at is not None,
            "events": {status: at for status, at in f.statuses()},
        }

    def resource(self) -> dict[str, Any]:
        """The Message resource as the API returns it on create."""
        created = _rfc2822(self.sent_at)
        uri = f"/{API_VERSION}/Accounts/{self.account_sid}/Messages/{self.sid}.json"
        return {
            "account_sid": self.account_sid,
            "api_version": API_VERSION,
            "body": self.body,
            "date_created": created,
            "date_sent": None,
            "date_updated": created,
            "direction": "outbound-api",
            "error_code": None,
            "error_message": None,
            "from": self.from_,
            "messaging_service_sid": self.messaging_service_sid,
            "num_media": "0",
            "num_segments": str(_segments(self.body)),
            "price": None,
            "price_unit": "USD",
            "sid": self.sid,
            "status": "queued",
            "subresource_uris": {"media": uri.replace(".json", "/Media.json")},
            "to": self.to,
            "uri": uri,
        }


@dataclass(slots=True)
class InboundSms:
    """A message a recipient sent to one of our numbers."""

    sid: str
    account_sid: str
    from_: str
    to: str
    body: str
    url: str | None
    received_at: float

    def event(self) -> Event:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "Body": self.body,
            "From": self.from_,
            "FromCountry": "",
            "MessageSid": self.sid,
            "NumMedia": "0",
            "NumSegments": str(_segments(self.body)),
            "SmsMessageSid": self.sid,
            "SmsSid": self.sid,
            "SmsStatus": "received",
            "To": self.to,
            "ToCountry": "US",
        }
        return {"url": self.url, "params": params}


def _segments(body: str) -> int:
    per = 160 if all(ord(c) < 128 for c in body) else 70
    return max(1, math.ceil(len(body) / per))


def _send_id(status_callback: str | None) -> str | None:
    if not status_callback:
        return None
    values = parse_qs(urlparse(status_callback).query).get("send_id")
    return values[0] if values else None


def _raw_dlr_done_date(unix: int) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%y%m%d%H%M")


def expand(item: SmsMessage | InboundSms) -> list[Event]:
    """The webhook posts for one message: its status callbacks, then a STOP reply if any."""
    if isinstance(item, InboundSms):
        return [item.event()] if item.url else []
    m, f = item, item.fate
    events: list[Event] = []
    if m.status_callback:
        for status, at in f.statuses():
            params = {
                "AccountSid": m.account_sid,
                "ApiVersion": API_VERSION,
                "From": m.from_,
                "MessageSid": m.sid,
                "MessageStatus": status,
                "SmsSid": m.sid,
                "SmsStatus": status,
                "To": m.to,
            }
            if m.messaging_service_sid:
                params["MessagingServiceSid"] = m.messaging_service_sid
            if status in ("undelivered", "failed") and f.error_code:
                params["ErrorCode"] = f.error_code
            if status in ("delivered", "undelivered"):
                params["RawDlrDoneDate"] = _raw_dlr_done_date(at)
            events.append({"url": m.status_callback, "params": params})
    if f.replied_stop_at is not None and m.inbound_url:
        reply = InboundSms(_reply_sid(m.sid), m.account_sid, m.to, m.from_, "STOP", m.inbound_url, f.replied_stop_at)
        events.append(reply.event())
    return events


def _reply_sid(sid: str) -> str:
    return "SM" + hashlib.blake2b(f"reply\x1f{sid}".encode(), digest_size=16).hexdigest()


def encode(batch: list[Event]) -> bytes:
    [event] = batch  # Twilio posts one callback per request
    return urlencode(event["params"]).encode("ascii")


def make_dispatcher(config: EmulatorConfig) -> WebhookDispatcher:
    def sign(body: bytes, batch: list[Event], url: str) -> dict[str, str]:
        return {
            "Content-Type": "application/x-www-form-urlencoded",
            "User-Agent": "TwilioProxy/1.1",
            SIGNATURE_HEADER: signature(config.auth_token, url, batch[0]["params"]),
        }

    return WebhookDispatcher(
        DISPATCHER,
        None,
        expand=expand,
        encode=encode,
        sign=sign,
        target=lambda batch: batch[0]["url"],
        batch_size=1,
        concurrency=config.twilio_webhook_concurrency,
        max_attempts=config.webhook_max_attempts,
        backoff_s=config.webhook_backoff_s,
        backoff_max_s=config.webhook_backoff_max_s,
        timeout_s=config.webhook_timeout_s,
        linger_s=0.0,
        duplicate_rate=config.webhook_duplicate_rate,
        out_of_order=config.webhook_out_of_order,
        seed=config.seed + 1,
    )


def keyword(body: str) -> str:
    """The single keyword a reply consists of (case, spaces and trailing punctuation ignored)."""
    return body.strip().strip(".!").strip().upper()


def receive_sms(state: EmulatorState, config: EmulatorConfig, from_: str, to: str, body: str) -> InboundSms:
    """A recipient texts one of our numbers: Twilio's default keywords change who may be sent
    to, and the message is posted to the inbound URL."""
    word = keyword(body)
    if word in OPT_OUT_KEYWORDS:
        state.sms_opted_out.add(from_)
    elif word in OPT_IN_KEYWORDS:
        state.sms_opted_out.discard(from_)
    sid = state.new_hex("SM")
    sms = InboundSms(sid, config.twilio_account_sid, from_, to, body, config.sms_inbound_url, state.clock.now())
    state.inbound_sms.append({"sid": sms.sid, "from": from_, "to": to, "body": body, "keyword": word})
    state.emit(sms, len(expand(sms)), DISPATCHER)
    return sms


def _authorized(request: Request, config: EmulatorConfig, account_sid: str) -> Response | None:
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    try:
        user, _, password = base64.b64decode(encoded, validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        user = password = ""
    ok = (
        scheme.lower() == "basic"
        and hmac.compare_digest(user.encode(), config.twilio_account_sid.encode())
        and hmac.compare_digest(password.encode(), config.auth_token.encode())
        and account_sid == config.twilio_account_sid
    )
    return None if ok else twilio_error(401, 20003, "Authenticate")


def _validate(state: EmulatorState, form: dict[str, str]) -> JSONResponse | None:
    to = form.get("To", "").strip()
    if not to:
        return twilio_error(400, 21604, "A 'To' phone number is required.")
    if not form.get("From") and not form.get("MessagingServiceSid"):
        return twilio_error(400, 21603, "A 'From' phone number is required.")
    if not form.get("Body") and not form.get("MediaUrl"):
        return twilio_error(400, 21602, "Message body is required.")
    if not _E164.match(to):
        return twilio_error(400, 21211, f"Invalid 'To' Phone Number: {to}")
    if len(form.get("Body", "")) > MAX_BODY_CHARS:
        return twilio_error(400, 21617, "The concatenated message body exceeds the 1600 character limit.")
    callback = form.get("StatusCallback")
    if callback and urlparse(callback).scheme not in ("http", "https"):
        return twilio_error(400, 21609, f"The StatusCallback URL {callback} is not a valid URL.")
    if to in state.sms_opted_out:
        return twilio_error(400, 21610, "Attempt to send to unsubscribed recipient")
    return None


def accept(state: EmulatorState, config: EmulatorConfig, form: dict[str, str]) -> SmsMessage:
    now = state.clock.now()
    to = form["To"].strip()
    callback = form.get("StatusCallback") or None
    send_id = _send_id(callback)
    sid = state.new_hex("SM")
    fate = sms_fate(config.seed, to, send_id or sid, now, config.sms)
    message = SmsMessage(
        sid=sid,
        account_sid=config.twilio_account_sid,
        to=to,
        from_=form.get("From") or DEFAULT_FROM,
        body=form.get("Body", ""),
        status_callback=callback,
        messaging_service_sid=form.get("MessagingServiceSid") or None,
        send_id=send_id,
        sent_at=now,
        fate=fate,
        inbound_url=config.sms_inbound_url,
    )
    if fate.replied_stop_at is not None:
        state.sms_opted_out.add(to)  # Twilio blocks the number from the STOP on
    state.add_message(message, len(expand(message)), DISPATCHER)
    return message


def routes(state: EmulatorState, config: EmulatorConfig) -> list[Route]:
    async def create_message(request: Request) -> Response:
        path = request.url.path
        raw = await request.body()
        denied = _authorized(request, config, request.path_params["account_sid"])
        if denied is not None:
            state.record_request(RequestRecord(CHANNEL, path, 401, len(raw), 0, None, state.clock.now()))
            return denied
        fault = state.take_fault(CHANNEL)
        await faults.pause(fault, config.sms.latency_s)
        if fault is not None and not fault.after_accept:
            state.record_request(RequestRecord(CHANNEL, path, fault.status, len(raw), 0, None, state.clock.now()))
            return faults.respond(fault, _fault_error)
        form = {k: str(v) for k, v in (await request.form()).items()}
        problem = _validate(state, form)
        if problem is not None:
            state.record_request(
                RequestRecord(CHANNEL, path, problem.status_code, len(raw), 0, None, state.clock.now())
            )
            return problem
        message = accept(state, config, form)
        state.record_request(RequestRecord(CHANNEL, path, 201, len(raw), 1, message.sid, state.clock.now()))
        if fault is not None and fault.kind != "timeout":
            return faults.respond(fault, _fault_error)
        return JSONResponse(message.resource(), status_code=201)

    async def fetch_account(request: Request) -> Response:
        """The Account resource (GET /2010-04-01/Accounts/{sid}.json): a harmless call that proves the
        SID and auth token are accepted; 401 (code 20003) otherwise, as Twilio answers."""
        denied = _authorized(request, config, request.path_params["account_sid"])
        if denied is not None:
            return denied
        return JSONResponse(account_resource(config.twilio_account_sid, state.clock.now()))

    return [
        Route("/2010-04-01/Accounts/{account_sid}/Messages.json", create_message, methods=["POST"]),
        Route("/2010-04-01/Accounts/{account_sid}.json", fetch_account, methods=["GET"]),
    ]


def account_resource(account_sid: str, now: float) -> dict[str, Any]:
    """The emulator's one account, active, in the shape of Twilio's Account resource."""
    uri = f"/{API_VERSION}/Accounts/{account_sid}"
    return {
        "auth_token": None,  # Twilio no longer returns it
        "date_created": _rfc2822(now),
        "date_updated": _rfc2822(now),
        "friendly_name": "Loyalty emulator account",
        "owner_account_sid": account_sid,
        "sid": account_sid,
        "status": "active",
        "subresource_uris": {"messages": f"{uri}/Messages.json"},
        "type": "Full",
        "uri": f"{uri}.json",
    }
