"""The receiver's HTTP surface (ASGI, Starlette).

  POST /webhooks/sendgrid          SendGrid Event Webhook batch (ECDSA, sendgrid's EventWebhook)
  POST /webhooks/twilio/status     Twilio status callback (X-Twilio-Signature, twilio's RequestValidator)
  POST /webhooks/twilio/inbound    Twilio inbound SMS (same signature); answers empty TwiML
  POST /webhooks/push              push receipts from the app (HMAC-SHA256, see ``providers``)
  POST /events/app                 the shop's app and site behaviour events, a JSON batch into raw.app_events
                                   (the same HMAC recipe, its own secret; see ``app_events``)
  POST /unsubscribe/{token}        RFC 8058 one-click unsubscribe (body List-Unsubscribe=One-Click)
  GET  /unsubscribe/{token}        a confirmation page; never unsubscribes by itself (link scanners)
  GET  /health                     liveness, no warehouse access
  GET  /health/ready               readiness: the warehouse answers

Every refusal is a 4xx JSON ``{"error": reason}`` (503 when a provider's secret is not
configured or the warehouse is down, so providers retry); 2xx only after the commit.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import html
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import psycopg
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from loyalty.unsubscribe import ONE_CLICK_BODY

from . import providers
from .app_events import app_events
from .config import ReceiverConfig, config_from_env
from .masking import mask_phone
from .providers import Rejected
from .store import EventStore, Stored

log = logging.getLogger("loyalty.webhooks")

Handler = Callable[[Request], Awaitable[Response]]
FORM_TYPE = "application/x-www-form-urlencoded"


async def read_body(request: Request, cap: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds ``cap`` bytes (declared or streamed)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise Rejected(413, f"body larger than {cap} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > cap:
            raise Rejected(413, f"body larger than {cap} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _require_content_type(request: Request, expected: str) -> None:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != expected:
        raise Rejected(415, f"expected {expected}, got {content_type or 'no content type'}")


def _stored_body(received: int, result: Stored) -> dict[str, int]:
    return {
        "received": received,
        "stored": result.stored,
        "duplicates": received - result.stored,
        "unmatched": result.unmatched,
    }


def guarded(name: str, handler: Handler) -> Handler:
    """Turn refusals and warehouse failures into clear answers; log without personal data."""

    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except Rejected as rejected:
            log.warning("%s webhook rejected (%s): %s", name, rejected.status, rejected.reason)
            return JSONResponse({"error": rejected.reason}, status_code=rejected.status)
        except psycopg.DataError as error:  # verified, but not storable (e.g. a lone surrogate)
            reason = f"the warehouse refused the payload: {str(error).splitlines()[0]}"
            log.warning("%s webhook rejected (400): %s", name, reason)
            return JSONResponse({"error": reason}, status_code=400)
        except psycopg.OperationalError:
            log.exception("%s webhook: warehouse unavailable", name)
            return JSONResponse({"error": "warehouse unavailable, retry later"}, status_code=503)

    return endpoint


def create_app(config: ReceiverConfig) -> Starlette:
    """The receiver for one configuration; warehouse connections open on first use."""
    store = EventStore(config.warehouse_url, config.max_connections)
    sendgrid = providers.SendGridVerifier(config.sendgrid_public_key)
    twilio = providers.TwilioVerifier(config.twilio_auth_token)
    window = config.replay_window_seconds

    def twilio_url(request: Request) -> str:
        """The URL Twilio signed: as configured publicly, or as this request reached us."""
        if config.public_url is None:
            return str(request.url)
        query = f"?{request.url.query}" if request.url.query else ""
        return f"{config.public_url.rstrip('/')}{request.url.path}{query}"

    async def sendgrid_events(request: Request) -> Response:
        body = await read_body(request, config.max_body_bytes)
        headers = request.headers
        sendgrid.verify(body, headers.get(providers.SIGNATURE_HEADER), headers.get(providers.TIMESTAMP_HEADER), window)
        received = providers.check_sendgrid_events(body)
        result = await run_in_threadpool(store.ingest_sendgrid, body.decode("utf-8"))
        _log_stored("sendgrid", received, result)
        return JSONResponse(_stored_body(received, result))

    async def twilio_params(request: Request) -> Any:
        body = await read_body(request, config.max_body_bytes)
        _require_content_type(request, FORM_TYPE)
        params = providers.parse_form(body)
        twilio.verify(twilio_url(request), params, request.headers.get(providers.TWILIO_SIGNATURE_HEADER))
        return params

    async def twilio_status(request: Request) -> Response:
        params = await twilio_params(request)
        record = providers.twilio_status_record(params, request.query_params.get("send_id"), time.time())
        result = await run_in_threadpool(store.ingest, [record])
        _log_stored("twilio status", 1, result)
        return JSONResponse(_stored_body(1, result))

    async def twilio_inbound(request: Request) -> Response:
        params = await twilio_params(request)
        record = providers.twilio_inbound_record(params, time.time())
        result = await run_in_threadpool(store.ingest, [record])
        change = record["change"]
        if change is not None and result.contactability_changes:
            log.info(
                "sms contactability of %s -> %s (%s)",
                mask_phone(change["address"]),
                change["is_contactable"],
                change["reason"],
            )
        return Response('<?xml version="1.0" encoding="UTF-8"?><Response></Response>', media_type="text/xml")

    async def push_receipts(request: Request) -> Response:
        body = await read_body(request, config.max_body_bytes)
        providers.verify_hmac(providers.PUSH_HMAC, config.push_webhook_secret, body, request.headers, window)
        records = providers.push_records(body)
        result = await run_in_threadpool(store.ingest, records)
        _log_stored("push", len(records), result)
        return JSONResponse(_stored_body(len(records), result))

    async def app_event_batch(request: Request) -> Response:
        body = await read_body(request, config.max_body_bytes)
        providers.verify_hmac(providers.APP_EVENTS_HMAC, config.app_events_secret, body, request.headers, window)
        _require_content_type(request, providers.JSON_TYPE)
        events = app_events(body, dt.datetime.now(dt.UTC))
        stored = await run_in_threadpool(store.ingest_app_events, events)
        log.debug("app events: %d received, %d stored", len(events), stored)
        return JSONResponse({"received": len(events), "stored": stored, "duplicates": len(events) - stored})

    async def one_click_unsubscribe(request: Request) -> Response:
        send_id = providers.unsubscribe_send_id(request.path_params["token"], config.unsubscribe_secret)
        body = await read_body(request, 64 * 1024)
        content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if content_type == "multipart/form-data":
            form = await request.form(max_files=0, max_fields=10)
            one_click = form.get("List-Unsubscribe") == "One-Click"
        else:
            one_click = providers.parse_form(body).get("List-Unsubscribe") == "One-Click"
        if not one_click:
            raise Rejected(400, f"body must be {ONE_CLICK_BODY} (RFC 8058)")
        record = providers.unsubscribe_record(send_id, time.time(), request.headers.get("user-agent"))
        result = await run_in_threadpool(store.ingest_for_known_send, send_id, record)
        if result is None:
            raise Rejected(404, "unknown send id: nothing to unsubscribe")
        return JSONResponse({"unsubscribed": True, "already": result.stored == 0})

    async def unsubscribe_page(request: Request) -> Response:
        providers.unsubscribe_send_id(request.path_params["token"], config.unsubscribe_secret)
        action = html.escape(request.url.path, quote=True)
        return HTMLResponse(
            f'<!doctype html><title>Unsubscribe</title><form method="post" action="{action}">'
            '<input type="hidden" name="List-Unsubscribe" value="One-Click">'
            "<button>Unsubscribe from these emails</button></form>"
        )

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "providers": config.configured})

    async def ready(_: Request) -> Response:
        try:
            await run_in_threadpool(store.ping)
        except psycopg.Error:
            return JSONResponse({"status": "warehouse unavailable"}, status_code=503)
        return JSONResponse({"status": "ok"})

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            store.close()

    app = Starlette(
        routes=[
            Route("/webhooks/sendgrid", guarded("sendgrid", sendgrid_events), methods=["POST"]),
            Route("/webhooks/twilio/status", guarded("twilio status", twilio_status), methods=["POST"]),
            Route("/webhooks/twilio/inbound", guarded("twilio inbound", twilio_inbound), methods=["POST"]),
            Route("/webhooks/push", guarded("push", push_receipts), methods=["POST"]),
            Route("/events/app", guarded("app events", app_event_batch), methods=["POST"]),
            Route("/unsubscribe/{token}", guarded("unsubscribe", one_click_unsubscribe), methods=["POST"]),
            Route("/unsubscribe/{token}", guarded("unsubscribe", unsubscribe_page), methods=["GET"]),
            Route("/health", health, methods=["GET"]),
            Route("/health/ready", ready, methods=["GET"]),
        ],
        lifespan=lifespan,
    )
    app.state.store = store
    return app


def _log_stored(name: str, received: int, result: Stored) -> None:
    if result.unmatched:
        log.warning("%s webhook: %d event(s) name a send id the ledger does not know", name, result.unmatched)
    log.debug("%s webhook: %d received, %d stored", name, received, result.stored)


def create_app_from_env() -> Starlette:
    """The app factory uvicorn workers import (``loyalty.webhooks.app:create_app_from_env``)."""
    return create_app(config_from_env())
