"""Firebase Cloud Messaging HTTP v1, as documented, and the app's signed delivery receipts.

``POST /v1/projects/{project}/messages:send`` with ``Authorization: Bearer <token>`` and
``{"message": {"token", "notification", "data"}, "validate_only"?}`` answers
``{"name": "projects/{project}/messages/{id}"}``, or Google's error shape
``{"error": {"code", "message", "status", "details": [{"@type": "...FcmError", "errorCode"}]}}``:
404 NOT_FOUND/UNREGISTERED for a device token FCM no longer knows, 400 INVALID_ARGUMENT for a
malformed message (``data`` values must be strings), 401 UNAUTHENTICATED. Messages go to device
tokens only, except a ``validate_only`` dry run, which FCM also accepts for a topic or condition
(nothing is delivered: a harmless call that proves the credentials).

FCM itself has no delivery webhooks: the app reports receipts. The emulator plays the app and
posts them to ``push_receipt_url`` as a JSON array of
``{"event_id", "event": "delivered"|"open", "message_id", "send_id", "token", "timestamp"}``
with ``X-Loyalty-Push-Timestamp: <unix seconds>`` and ``X-Loyalty-Push-Signature:
v1=<hex HMAC-SHA256(secret, timestamp + "." + body)>``. The send id is ``message.data.send_id``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import faults
from .config import EmulatorConfig
from .fate import PushFate, push_fate, token_unregistered
from .google_oauth import TOKEN_PREFIX, TokenIssuer
from .state import EmulatorState, RequestRecord
from .webhooks import Event, WebhookDispatcher

CHANNEL = "push"
DISPATCHER = "push"
SIGNATURE_HEADER = "X-Loyalty-Push-Signature"
TIMESTAMP_HEADER = "X-Loyalty-Push-Timestamp"
FCM_ERROR_TYPE = "type.googleapis.com/google.firebase.fcm.v1.FcmError"
MAX_PAYLOAD_BYTES = 4096  # FCM's limit on notification + data
_MESSAGE_FIELDS = {"name", "data", "notification", "android", "webpush", "apns", "fcm_options", "token", "topic"}
_MESSAGE_FIELDS |= {"condition"}


class FcmError(Exception):
    def __init__(self, code: int, status: str, message: str, error_code: str | None = None) -> None:
        super().__init__(message)
        self.code, self.status, self.message, self.error_code = code, status, message, error_code

    def response(self, **headers: str) -> JSONResponse:
        return fcm_error(self.code, self.status, self.message, self.error_code, **headers)


def fcm_error(code: int, status: str, message: str, error_code: str | None = None, **headers: str) -> JSONResponse:
    body: dict[str, Any] = {"code": code, "message": message, "status": status}
    if error_code:
        body["details"] = [{"@type": FCM_ERROR_TYPE, "errorCode": error_code}]
    return JSONResponse({"error": body}, status_code=code, headers=headers or None)


_FAULTS = {
    429: ("RESOURCE_EXHAUSTED", "QUOTA_EXCEEDED", "Quota exceeded."),
    503: ("UNAVAILABLE", "UNAVAILABLE", "The service is currently unavailable."),
}


def _fault_error(status: int, headers: dict[str, str]) -> Response:
    grpc_status, error_code, message = _FAULTS.get(status, ("INTERNAL", "INTERNAL", "Internal error encountered."))
    return fcm_error(status, grpc_status, message, error_code, **headers)


@dataclass(slots=True)
class PushMessage:
    name: str
    project: str
    to: str  # the device token
    notification: dict[str, Any]
    data: dict[str, str]
    send_id: str | None
    sent_at: float
    fate: PushFate
    channel: str = CHANNEL

    def to_dict(self) -> dict[str, Any]:
        f = self.fate
        return {
            "channel": self.channel,
            "name": self.name,
            "to": self.to,
            "notification": self.notification,
            "data": self.data,
            "send_id": self.send_id,
            "sent_at": datetime.fromtimestamp(self.sent_at, UTC).isoformat(),
            "fate": f.status,
            "delivered": f.delivered_at is not None,
            "opened": f.opened_at is not None,
            "events": {k: v for k, v in (("delivered", f.delivered_at), ("open", f.opened_at)) if v is not None},
        }


def expand(m: PushMessage) -> list[Event]:
    """The app's receipts for one message."""
    f = m.fate
    return [
        {
            "event_id": f"{m.name}:{name}",
            "event": name,
            "message_id": m.name,
            "send_id": m.send_id,
            "token": m.to,
            "timestamp": at,
        }
        for name, at in (("delivered", f.delivered_at), ("open", f.opened_at))
        if at is not None
    ]


def sign_receipts(secret: str, body: bytes, timestamp: str | None = None) -> dict[str, str]:
    """Headers for a receipt batch: HMAC-SHA256 over ``timestamp + "." + body``, hex, ``v1=``."""
    ts = timestamp or str(int(time.time()))
    mac = hmac.new(secret.encode("utf-8"), ts.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", SIGNATURE_HEADER: f"v1={mac}", TIMESTAMP_HEADER: ts}


def make_dispatcher(config: EmulatorConfig) -> WebhookDispatcher:
    return WebhookDispatcher(
        DISPATCHER,
        config.push_receipt_url,
        expand=expand,
        sign=lambda body, batch, url: sign_receipts(config.push_secret, body),
        batch_size=config.push_receipt_batch_size,
        concurrency=config.webhook_concurrency,
        max_attempts=config.webhook_max_attempts,
        backoff_s=config.webhook_backoff_s,
        backoff_max_s=config.webhook_backoff_max_s,
        timeout_s=config.webhook_timeout_s,
        linger_s=config.webhook_linger_s,
        duplicate_rate=config.webhook_duplicate_rate,
        out_of_order=config.webhook_out_of_order,
        seed=config.seed + 2,
    )


def validate(body: Any) -> tuple[dict[str, Any], bool]:
    """The message and validate_only flag, or FcmError(400 INVALID_ARGUMENT) naming the problem."""

    def invalid(message: str) -> FcmError:
        return FcmError(400, "INVALID_ARGUMENT", message, "INVALID_ARGUMENT")

    if not isinstance(body, dict) or not isinstance(body.get("message"), dict):
        raise invalid("Request contains an invalid argument: 'message' is required.")
    unknown = sorted(set(body) - {"message", "validate_only"})
    if unknown:
        raise invalid(f'Invalid JSON payload received. Unknown name "{unknown[0]}": Cannot find field.')
    message = body["message"]
    unknown = sorted(set(message) - _MESSAGE_FIELDS)
    if unknown:
        raise invalid(f"Invalid JSON payload received. Unknown name \"{unknown[0]}\" at 'message': Cannot find field.")
    validate_only = body.get("validate_only", False)
    if not isinstance(validate_only, bool):
        raise invalid("Invalid value at 'validate_only' (TYPE_BOOL).")
    targets = [k for k in ("token", "topic", "condition") if k in message]
    if len(targets) != 1:
        raise invalid("Request contains an invalid argument: exactly one of token, topic or condition is required.")
    if targets != ["token"] and not validate_only:  # a dry run to a topic delivers nothing: accepted
        raise invalid("The emulator delivers to device tokens only (no topic or condition).")
    if not isinstance(message[targets[0]], str) or not message[targets[0]].strip():
        raise invalid(f"The {targets[0]} is not a valid FCM {targets[0]}")
    data = message.get("data", {})
    if not isinstance(data, dict):
        raise invalid("Invalid value at 'message.data' (type.googleapis.com/google.protobuf.Struct).")
    for key, value in data.items():
        if not isinstance(value, str):
            raise invalid(f"Invalid value at 'message.data[{key}].value' (TYPE_STRING), {json.dumps(value)}")
    notification = message.get("notification", {})
    if not isinstance(notification, dict) or not all(isinstance(v, str) for v in notification.values()):
        raise invalid("Invalid value at 'message.notification': title, body and image must be strings.")
    size = len(json.dumps({"data": data, "notification": notification}).encode())
    if size > MAX_PAYLOAD_BYTES:
        raise invalid(f"Android message is too big: {size} bytes, the limit is {MAX_PAYLOAD_BYTES}.")
    return message, validate_only


def _authorized(request: Request, config: EmulatorConfig, project: str, issuer: TokenIssuer) -> FcmError | None:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return FcmError(
            401,
            "UNAUTHENTICATED",
            "Request is missing required authentication credential. Expected OAuth 2 access token.",
        )
    static = config.fcm_access_token is not None and hmac.compare_digest(
        token.encode(), config.fcm_access_token.encode()
    )
    minted = issuer.valid(token)
    if token.startswith(TOKEN_PREFIX) and not minted:  # ours, but expired or never minted: as Google answers
        return FcmError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    if (config.fcm_oauth or config.fcm_access_token is not None) and not (static or minted):
        return FcmError(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    if config.fcm_project is not None and project != config.fcm_project:
        return FcmError(403, "PERMISSION_DENIED", "SenderId mismatch", "SENDER_ID_MISMATCH")
    return None


def routes(state: EmulatorState, config: EmulatorConfig, issuer: TokenIssuer) -> list[Route]:
    async def send(request: Request) -> Response:
        path = request.url.path
        project = request.path_params["project"]
        raw = await request.body()

        def record(status: int, n: int = 0, name: str | None = None) -> None:
            state.record_request(RequestRecord(CHANNEL, path, status, len(raw), n, name, state.clock.now()))

        denied = _authorized(request, config, project, issuer)
        if denied is not None:
            record(denied.code)
            return denied.response()
        fault = state.take_fault(CHANNEL)
        await faults.pause(fault, config.push.latency_s)
        if fault is not None and not fault.after_accept:
            record(fault.status)
            return faults.respond(fault, _fault_error)
        try:
            message, validate_only = validate(json.loads(raw))
            token = message.get("token", "")
            if token and (token in state.unregistered_tokens or token_unregistered(config.seed, token, config.push)):
                raise FcmError(404, "NOT_FOUND", "Requested entity was not found.", "UNREGISTERED")
        except (ValueError, UnicodeDecodeError):
            record(400)
            return fcm_error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.", "INVALID_ARGUMENT")
        except FcmError as exc:
            record(exc.code)
            return exc.response()
        if validate_only:
            record(200)
            return JSONResponse({"name": f"projects/{project}/messages/fake_message_id"})
        now = state.clock.now()
        name = f"projects/{project}/messages/0:{int(now * 1000)}%{state.new_hex('', 8)}"
        data = dict(message.get("data", {}))
        send_id = data.get("send_id")
        fate = push_fate(config.seed, token, send_id or name, now, config.push)
        pushed = PushMessage(name, project, token, dict(message.get("notification", {})), data, send_id, now, fate)
        state.add_message(pushed, len(expand(pushed)), DISPATCHER)
        record(200, 1, name)
        if fault is not None and fault.kind != "timeout":
            return faults.respond(fault, _fault_error)
        return JSONResponse({"name": name})

    return [Route("/v1/projects/{project}/messages:send", send, methods=["POST"])]
