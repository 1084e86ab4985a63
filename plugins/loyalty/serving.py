"""Serve an ASGI app with uvicorn on a given or free port and announce its URL on stdout."""

from __future__ import annotations

import socket

import uvicorn


def serve(app, name: str, host: str = "127.0.0.1", port: int = 0, workers: int = 1) -> None:
    """Bind first (port 0 picks a free one), print `NAME_URL=...`, then serve until stopped."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    bound_port = sock.getsockname()[1]
    print(f"{name.upper()}_URL=http://{host}:{bound_port}", flush=True)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])
