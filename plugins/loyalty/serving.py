"""Serve an ASGI app with uvicorn on a given or free port and announce its URL on stdout."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import uvicorn


def serve(
    app: str | Callable[..., Any],
    name: str,
    host: str = "127.0.0.1",
    port: int = 0,
    workers: int = 1,
    factory: bool = False,
) -> None:
    """Bind first (port 0 picks a free one), print `NAME_URL=...`, then serve until stopped.

    ``workers > 1`` runs uvicorn's process supervisor over the same socket; ``app`` must then be
    an import string (``"pkg.module:attr"``, with ``factory=True`` when it names an app factory).
    """
    if workers > 1 and not isinstance(app, str):
        raise ValueError("several workers need the app as an import string")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    bound_port = sock.getsockname()[1]
    print(f"{name.upper()}_URL=http://{host}:{bound_port}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False, workers=workers, factory=factory)
    if workers > 1:
        from uvicorn.supervisors import Multiprocess

        Multiprocess(config, sockets=[sock]).run()
    else:
        uvicorn.Server(config).run(sockets=[sock])
