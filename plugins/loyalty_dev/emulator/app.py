"""The ASGI app: provider APIs plus ``/_emulator/`` introspection, and ways to run it.

``create_app`` composes channel modules (SendGrid, Twilio, FCM): each gives a
``routes(state, config)`` list, a ``WebhookDispatcher`` registered in ``state.dispatchers``, an
``expand(message) -> events`` registered in ``state.expanders``, and message records with
``channel``, ``send_id``, ``to`` and ``to_dict()``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import asdict, dataclass, fields
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from . import fcm, google_oauth, sendgrid, twilio
from .clock import parse_iso
from .config import RATE_CLASSES, EmulatorConfig, updated_rates
from .state import EmulatorState, Fault


async def _json(request: Request) -> dict[str, Any]:
    raw = await request.body()
    if not raw.strip():
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise TypeError("expected a JSON object")
    return data


def _bad(message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=400)


def _ids(message: Any) -> set[str]:
    return {
        str(v) for k in ("x_message_id", "sg_message_id", "sid", "name") if (v := getattr(message, k, None)) is not None
    }


def apply_settings(state: EmulatorState, config: EmulatorConfig, data: dict[str, Any]) -> None:
    """Validate everything first, then apply (a bad request changes nothing)."""
    rates = {}
    flat = {k: data[k] for k in ("delivery_rate", "open_rate", "click_rate") if k in data}
    for channel in RATE_CLASSES:
        changes = {**(flat if channel == "email" else {}), **(data.get(channel) or {})}
        if not isinstance(changes, dict):
            raise TypeError(f"{channel} must be an object of rates")
        if changes:
            rates[channel] = updated_rates(getattr(config, channel), changes)
    urls = {k: data[k] for k in ("webhook_url", "sms_inbound_url", "push_receipt_url") if k in data}
    for key, value in urls.items():
        if value is not None and not (isinstance(value, str) and value.startswith(("http://", "https://"))):
            raise ValueError(f"{key} must be an http(s) URL or null")
    duplicate_rate = data.get("webhook_duplicate_rate", config.webhook_duplicate_rate)
    if not 0.0 <= float(duplicate_rate) <= 1.0:
        raise ValueError("webhook_duplicate_rate must be within [0, 1]")
    for channel, value in rates.items():
        setattr(config, channel, value)
    for key, value in urls.items():
        setattr(config, key, value)
    state.dispatchers[sendgrid.DISPATCHER].url = config.webhook_url
    state.dispatchers[fcm.DISPATCHER].url = config.push_receipt_url
    config.webhook_duplicate_rate = float(duplicate_rate)
    config.webhook_out_of_order = bool(data.get("webhook_out_of_order", config.webhook_out_of_order))
    for d in state.dispatchers.values():
        d.duplicate_rate = config.webhook_duplicate_rate
        d.out_of_order = config.webhook_out_of_order


def settings_view(config: EmulatorConfig) -> dict[str, Any]:
    """Current settings, including the local emulator's secrets (a real provider shows them in
    its console; this is a local test double)."""
    return {
        "seed": config.seed,
        "webhook_url": config.webhook_url,
        "sms_inbound_url": config.sms_inbound_url,
        "push_receipt_url": config.push_receipt_url,
        "delivery_rate": config.email.delivery_rate,
        "open_rate": config.email.open_rate,
        "click_rate": config.email.click_rate,
        "email": asdict(config.email),
        "sms": asdict(config.sms),
        "push": asdict(config.push),
        "webhook_batch_size": config.webhook_batch_size,
        "webhook_duplicate_rate": config.webhook_duplicate_rate,
        "webhook_out_of_order": config.webhook_out_of_order,
        "auth_required": config.api_key is not None,
        "public_key": config.public_key_b64,
        "twilio_account_sid": config.twilio_account_sid,
        "twilio_auth_token": config.auth_token,
        "push_webhook_secret": config.push_secret,
    }


def introspection_routes(state: EmulatorState, config: EmulatorConfig) -> list[Route]:
    """Endpoints for tests and the demo; none of them exists at a real provider."""

    async def health(_: Request) -> Response:
        return JSONResponse({"status": "ok", "channels": sorted(state.dispatchers)})

    async def messages(request: Request) -> Response:
        q = request.query_params
        found = state.find(send_id=q.get("send_id"), channel=q.get("channel"))
        if to := q.get("to"):
            found = [m for m in found if getattr(m, "to", None) == to]
        if message_id := q.get("id"):  # X-Message-Id / sg_message_id, SM sid or FCM name
            found = [m for m in found if message_id in _ids(m)]
        offset = int(q.get("offset", 0))
        limit = int(q["limit"]) if "limit" in q else None
        page = found[offset : None if limit is None else offset + limit]
        return JSONResponse([m.to_dict() for m in page])

    async def events(request: Request) -> Response:
        """The exact webhook events (as posted) for matching messages of any channel; Twilio
        callbacks appear as ``{"url", "params"}``."""
        q = request.query_params
        found = state.find(send_id=q.get("send_id"), channel=q.get("channel"))
        return JSONResponse([e for m in found for e in state.expanders[m.channel](m)])

    async def requests_(_: Request) -> Response:
        return JSONResponse(
            [
                {
                    "channel": r.channel,
                    "path": r.path,
                    "status": r.status,
                    "body_bytes": r.body_bytes,
                    "recipients": r.recipients,
                    "message_id": r.message_id,
                    "received_at": r.received_at,
                }
                for r in state.requests
            ]
        )

    async def stats(_: Request) -> Response:
        return JSONResponse(state.stats())

    async def flush(request: Request) -> Response:
        try:
            timeout = float((await _json(request)).get("timeout", 30.0))
        except (ValueError, TypeError) as exc:
            return _bad(str(exc))
        results = await asyncio.gather(*(d.wait_idle(timeout) for d in state.dispatchers.values()))
        body = {**state.stats(), "drained": all(results)}
        return JSONResponse(body, status_code=200 if all(results) else 504)

    async def reset(_: Request) -> Response:
        state.reset()
        return JSONResponse(state.stats())

    async def clock(request: Request) -> Response:
        if request.method == "POST":
            try:
                data = await _json(request)
                if "now" in data and data["now"] is not None:
                    state.clock.set(
                        parse_iso(str(data["now"])),
                        frozen=bool(data.get("frozen", False)),
                    )
                elif data.get("now", "missing") is None:
                    state.clock.reset()
                if "advance_seconds" in data:
                    state.clock.advance(float(data["advance_seconds"]))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse(state.clock.snapshot())

    async def faults(request: Request) -> Response:
        if request.method == "POST":
            try:
                data = await _json(request)
                items = data.get("faults", [data])
                known = {f.name for f in fields(Fault)}
                for item in items:
                    state.faults.append(Fault(**{k: v for k, v in item.items() if k in known}))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        elif request.method == "DELETE":
            state.faults.clear()
        return JSONResponse(state.faults_as_dicts())

    async def settings(request: Request) -> Response:
        """Change webhook targets, per-channel rates and webhook faults at run time.

        ``{"webhook_url", "sms_inbound_url", "push_receipt_url", "email": {...rates},
        "sms": {...}, "push": {...}, "webhook_duplicate_rate", "webhook_out_of_order"}``; the
        flat ``delivery_rate``/``open_rate``/``click_rate`` keys still set email rates.
        """
        if request.method == "POST":
            try:
                apply_settings(state, config, await _json(request))
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse(settings_view(config))

    async def inbound_sms(request: Request) -> Response:
        """A recipient texts us: ``{"from": "+55…", "to": "+1…", "body": "STOP"}``."""
        try:
            data = await _json(request)
            sms = twilio.receive_sms(state, config, str(data["from"]), str(data["to"]), str(data["body"]))
        except (KeyError, ValueError, TypeError) as exc:
            return _bad(f"expected from, to and body: {exc}")
        return JSONResponse({"sid": sms.sid, "opted_out": sorted(state.sms_opted_out)})

    async def push_tokens(request: Request) -> Response:
        """``{"unregister": [tokens]}``: FCM answers UNREGISTERED for them from now on."""
        if request.method == "POST":
            try:
                tokens = (await _json(request)).get("unregister", [])
                if not isinstance(tokens, list):
                    raise TypeError("unregister must be a list of tokens")
                state.unregistered_tokens.update(str(t) for t in tokens)
            except (ValueError, TypeError) as exc:
                return _bad(str(exc))
        return JSONResponse({"unregistered": sorted(state.unregistered_tokens)})

    async def redeliver(_: Request) -> Response:
        n = sum(d.redeliver_dead_letters() for d in state.dispatchers.values())
        return JSONResponse({"requeued_events": n})

    p = "/_emulator"
    return [
        Route(f"{p}/health", health, methods=["GET"]),
        Route(f"{p}/messages", messages, methods=["GET"]),
        Route(f"{p}/events", events, methods=["GET"]),
        Route(f"{p}/requests", requests_, methods=["GET"]),
        Route(f"{p}/stats", stats, methods=["GET"]),
        Route(f"{p}/flush", flush, methods=["POST"]),
        Route(f"{p}/reset", reset, methods=["POST"]),
        Route(f"{p}/clock", clock, methods=["GET", "POST"]),
        Route(f"{p}/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route(f"{p}/settings", settings, methods=["GET", "POST"]),
        Route(f"{p}/webhooks/redeliver", redeliver, methods=["POST"]),
        Route(f"{p}/sms/inbound", inbound_sms, methods=["POST"]),
        Route(f"{p}/sms/opt-outs", lambda _: JSONResponse(sorted(state.sms_opted_out)), methods=["GET"]),
        Route(f"{p}/push/tokens", push_tokens, methods=["GET", "POST"]),
    ]


def create_app(config: EmulatorConfig) -> Starlette:
    """Build one emulator instance; its webhook workers live as long as the app's lifespan."""
    state = EmulatorState(config.seed)
    issuer = google_oauth.TokenIssuer(config)
    state.dispatchers[sendgrid.DISPATCHER] = sendgrid.make_dispatcher(config)
    state.dispatchers[twilio.DISPATCHER] = twilio.make_dispatcher(config)
    state.dispatchers[fcm.DISPATCHER] = fcm.make_dispatcher(config)
    state.expanders.update(
        {sendgrid.CHANNEL: sendgrid.expand_events, twilio.CHANNEL: twilio.expand, fcm.CHANNEL: fcm.expand}
    )

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        for d in state.dispatchers.values():
            await d.start()
        try:
            yield
        finally:
            for d in state.dispatchers.values():
                await d.stop()

    app = Starlette(
        routes=[
            *sendgrid.routes(state, config),
            *twilio.routes(state, config),
            *fcm.routes(state, config, issuer),
            *google_oauth.routes(issuer),
            *introspection_routes(state, config),
        ],
        lifespan=lifespan,
    )
    app.state.emulator = state
    app.state.config = config
    return app


def _bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket whose accepted connections get TCP_NODELAY.

    The protocol must be given as ``IPPROTO_TCP``: asyncio sets TCP_NODELAY on an accepted socket
    only when its ``proto`` is ``IPPROTO_TCP``, and accepted sockets inherit the listener's
    ``proto``. With ``proto=0`` every small response waited on Nagle + the client's delayed ACK:
    ~43 ms a request on a kept-alive connection (~23 requests/s) under ``asyncio.run``.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _url(host: str, sock: socket.socket) -> str:
    port = sock.getsockname()[1]
    shown = "127.0.0.1" if host in ("0.0.0.0", "") else host  # noqa: S104 - display only, not a bind
    return f"http://{shown}:{port}"


def _uvicorn_server(app: Starlette, log_level: str) -> uvicorn.Server:
    return uvicorn.Server(
        uvicorn.Config(
            app,
            log_level=log_level,
            lifespan="on",
            access_log=False,
            timeout_keep_alive=30,
        )
    )


def serve(
    host: str,
    port: int,
    config: EmulatorConfig,
    *,
    on_ready: Callable[[str], None] | None = None,
    log_level: str = "warning",
) -> None:
    """Run until interrupted. ``port=0`` picks a free port; ``on_ready(url)`` fires once it
    accepts connections (``python -m loyalty_dev.emulator`` prints ``EMULATOR_URL=...`` there)."""
    sock = _bind(host, port)
    server = _uvicorn_server(create_app(config), log_level)

    async def main() -> None:
        task = asyncio.create_task(server.serve(sockets=[sock]))
        while not server.started and not task.done():
            await asyncio.sleep(0.01)
        if server.started and on_ready is not None:
            on_ready(_url(host, sock))
        await task

    try:
        # the same event loop uvicorn's Server.run (start_in_thread) picks: uvloop when installed
        with asyncio.Runner(loop_factory=server.config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        sock.close()


@dataclass
class RunningEmulator:
    """An emulator serving from a background thread (tests, notebooks, the demo)."""

    url: str
    app: Starlette
    server: uvicorn.Server
    thread: threading.Thread

    @property
    def state(self) -> EmulatorState:
        emulator: EmulatorState = self.app.state.emulator
        return emulator

    def stop(self, timeout: float = 10.0) -> None:
        self.server.should_exit = True
        self.thread.join(timeout)


def start_in_thread(
    config: EmulatorConfig,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    startup_timeout: float = 10.0,
) -> RunningEmulator:
    """Start on a daemon thread and return once it accepts requests."""
    sock = _bind(host, port)
    app = create_app(config)
    server = _uvicorn_server(app, "warning")
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True, name="emulator")
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError("emulator failed to start")
        time.sleep(0.005)
    return RunningEmulator(_url(host, sock), app, server, thread)


@contextlib.contextmanager
def running(config: EmulatorConfig, host: str = "127.0.0.1", port: int = 0) -> Iterator[RunningEmulator]:
    """``with running(EmulatorConfig(seed=1)) as emu: ... emu.url ...``"""
    emu = start_in_thread(config, host, port)
    try:
        yield emu
    finally:
        emu.stop()
