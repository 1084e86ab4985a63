"""Applying an injected ``Fault`` to one API call, the same way for every channel.

Each channel supplies how its provider words an error (``error(status, headers) -> Response``);
this module handles latency, timeouts, dropped connections and ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from .state import Fault

ErrorResponder = Callable[[int, dict[str, str]], Response]


class DroppedConnection(Response):
    """Sends the status line and headers, then stops: the server closes the connection with the
    body missing, so the client sees a broken connection rather than an HTTP error."""

    def __init__(self) -> None:
        super().__init__(status_code=200, headers={"Content-Length": "64"})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await send({"type": "http.response.start", "status": self.status_code, "headers": self.raw_headers})


async def pause(fault: Fault | None, latency_s: float = 0.0) -> None:
    """The channel's configured latency plus the fault's delay (a timeout is a long delay)."""
    delay = latency_s + (fault.delay_s if fault is not None else 0.0)
    if delay > 0:
        await asyncio.sleep(delay)


def retry_headers(fault: Fault) -> dict[str, str]:
    if fault.retry_after is None:
        return {}
    value = int(fault.retry_after) if float(fault.retry_after).is_integer() else fault.retry_after
    return {"Retry-After": str(value)}


def respond(fault: Fault, error: ErrorResponder) -> Response:
    """The answer a faulted call gets (after ``pause``)."""
    if fault.kind == "drop":
        return DroppedConnection()
    return error(int(fault.status), retry_headers(fault))


def rate_limit_reset(fault: Fault) -> dict[str, str]:
    """SendGrid's rate-limit headers next to Retry-After."""
    if fault.retry_after is None:
        return {}
    return {"X-RateLimit-Reset": str(int(time.time() + fault.retry_after)), "X-RateLimit-Remaining": "0"}
