"""Fixtures: emulators on free ports in background threads, and a tiny webhook receiver."""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from loyalty_dev.emulator import EmulatorConfig, RunningEmulator, start_in_thread


def _serve_in_thread(app: Starlette) -> tuple[str, uvicorn.Server, threading.Thread]:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="error", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "receiver did not start"
        time.sleep(0.005)
    return f"http://127.0.0.1:{sock.getsockname()[1]}", server, thread


@dataclass
class Receiver:
    """Records every webhook post (headers + raw body); fails the first ``fail_first`` posts."""

    url: str = ""
    fail_first: int = 0
    fail_status: int = 500
    delay_s: float = 0.0
    posts: list[tuple[dict[str, str], bytes]] = field(default_factory=list)
    attempts: int = 0

    def events(self) -> list[dict]:
        import json

        return [e for _, body in self.posts for e in json.loads(body)]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    rec = Receiver()

    async def hook(request: Request) -> Response:
        body = await request.body()
        if rec.delay_s:
            await asyncio.sleep(rec.delay_s)
        rec.attempts += 1
        if rec.attempts <= rec.fail_first:
            return Response(status_code=rec.fail_status)
        rec.posts.append((dict(request.headers), body))
        return Response(status_code=200)

    url, server, thread = _serve_in_thread(Starlette(routes=[Route("/hook", hook, methods=["POST"])]))
    rec.url = f"{url}/hook"
    yield rec
    server.should_exit = True
    thread.join(5)


@pytest.fixture
def emulator_factory() -> Iterator[Callable[..., RunningEmulator]]:
    """Start emulators with a given config (fast retries); all are stopped at teardown."""
    started: list[RunningEmulator] = []

    def make(**kwargs: object) -> RunningEmulator:
        kwargs.setdefault("webhook_backoff_s", 0.02)
        emu = start_in_thread(EmulatorConfig(**kwargs))  # type: ignore[arg-type]
        started.append(emu)
        return emu

    yield make
    for emu in started:
        emu.stop()
