"""Helpers shared by the emulator tests (fixtures live in conftest.py)."""

from __future__ import annotations

import httpx
from sendgrid import SendGridAPIClient

from loyalty_dev.emulator import RunningEmulator


def sg_client(emu: RunningEmulator, api_key: str = "test-key") -> SendGridAPIClient:
    return SendGridAPIClient(api_key=api_key, host=emu.url)


def mail_body(n: int, prefix: str = "user", **extra: object) -> dict:
    """A Mail Send body with n personalizations, each carrying a send_id custom arg."""
    return {
        "personalizations": [
            {
                "to": [{"email": f"{prefix}{i}@example.com"}],
                "custom_args": {"send_id": f"{prefix}-{i}"},
            }
            for i in range(n)
        ],
        "from": {"email": "loyalty@shop.example.com", "name": "Shop"},
        "subject": "Your points are waiting",
        "content": [{"type": "text/plain", "value": "Hello"}],
        **extra,
    }


def flush(emu: RunningEmulator, timeout: float = 10) -> dict:
    r = httpx.post(f"{emu.url}/_emulator/flush", json={"timeout": timeout}, timeout=timeout + 5)
    assert r.status_code == 200, r.text
    return r.json()
