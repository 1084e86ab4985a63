"""The process entry point (the independence rule lives in tests/unit/test_package_boundaries.py)."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import httpx

from loyalty_dev.emulator.app import _bind


def test_module_entry_prints_url_when_ready() -> None:
    """`python -m loyalty_dev.emulator --port 0` prints one EMULATOR_URL=... line once it accepts
    requests, serves the API there, and the configured seed/webhook URL are in effect."""
    cmd = [sys.executable, "-m", "loyalty_dev.emulator", "--port", "0", "--seed", "42"]
    cmd += ["--webhook-url", "http://127.0.0.1:9/hook"]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"}) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("EMULATOR_URL=http://127.0.0.1:"), line
            url = line.split("=", 1)[1]
            assert httpx.get(f"{url}/_emulator/health", timeout=5).json()["status"] == "ok"
            settings = httpx.get(f"{url}/_emulator/settings", timeout=5).json()
            assert settings["seed"] == 42 and settings["webhook_url"] == "http://127.0.0.1:9/hook"
        finally:
            proc.terminate()
            proc.wait(10)


def test_accepted_connections_get_tcp_nodelay_on_a_plain_asyncio_loop() -> None:
    """The listening socket the entry point serves on hands asyncio connections with TCP_NODELAY
    set. asyncio only sets it when the socket's proto is IPPROTO_TCP; a proto-0 listener left
    Nagle on, and each small response waited for the client's delayed ACK (~43 ms a request on a
    kept-alive connection). A configuration check, not a timing: it fails on a proto-0 listener."""

    async def accepted_nodelay() -> int:
        sock = _bind("127.0.0.1", 0)
        seen: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport: asyncio.BaseTransport) -> None:
                accepted = transport.get_extra_info("socket")
                seen.set_result(accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        async with await asyncio.get_running_loop().create_server(Probe, sock=sock):
            _, writer = await asyncio.open_connection(*sock.getsockname()[:2])
            try:
                return await asyncio.wait_for(seen, 5)
            finally:
                writer.close()

    with _bind("127.0.0.1", 0) as listener:
        assert listener.proto == socket.IPPROTO_TCP
    assert asyncio.run(accepted_nodelay()) != 0


def test_loyalty_emulator_command_serves_all_channels(tmp_path: Path) -> None:
    """`loyalty-dev emulator` (the CLI face) reads a JSON config, announces its URL and serves the
    SendGrid, Twilio and FCM APIs with the configured per-channel rates."""
    config = tmp_path / "emulator.json"
    config.write_text('{"seed": 5, "sms": {"delivery_rate": 0.5}, "push": {"open_rate": 0.2}}')
    cmd = [sys.executable, "-m", "loyalty_dev.cli", "emulator", "--port", "0", "--config", str(config)]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "LOYALTY_EMULATOR_TWILIO_AUTH_TOKEN": "from-env"}
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, env=env) as proc:
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline().strip()
            assert line.startswith("EMULATOR_URL=http://127.0.0.1:"), line
            settings = httpx.get(f"{line.split('=', 1)[1]}/_emulator/settings", timeout=5).json()
            assert settings["seed"] == 5 and settings["sms"]["delivery_rate"] == 0.5
            assert settings["push"]["open_rate"] == 0.2 and settings["twilio_auth_token"] == "from-env"
        finally:
            proc.terminate()
            proc.wait(10)
