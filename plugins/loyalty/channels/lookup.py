"""Looking sent messages up by our send id at the provider.

The provider emulator answers `GET /_emulator/messages?send_id=&channel=` synchronously with
what it accepted, so its answer is authoritative (absent means never accepted, once the request
had time to finish). Real providers' lookups are slower or missing (SendGrid's Email Activity
API is an add-on and minutes behind; FCM has none): with no lookup configured a channel answers
`None`, and the ledger marks unresolved rows `unknown` instead of guessing.
"""

from __future__ import annotations

from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

import httpx

from loyalty.channels.base import Lookup

ID_FIELDS = {"email": "x_message_id", "sms": "sid", "push": "name"}


class EmulatorLookup:
    """Lookup through the emulator's `/_emulator/messages` (one GET per send id, pooled)."""

    def __init__(self, host: str, channel: str, concurrency: int = 8, timeout: float = 10.0) -> None:
        self.channel = channel
        self.concurrency = concurrency
        self.client = httpx.Client(
            base_url=host.rstrip("/"),
            timeout=timeout,
            limits=httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency),
        )

    def close(self) -> None:
        self.client.close()

    def _one(self, send_id: str) -> tuple[str, str | None] | None:
        response = self.client.get("/_emulator/messages", params={"send_id": send_id, "channel": self.channel})
        response.raise_for_status()
        found = response.json()
        return (send_id, found[0].get(ID_FIELDS[self.channel])) if found else None

    def __call__(self, send_ids: Iterable[str]) -> Lookup:
        ids = list(send_ids)
        with ThreadPoolExecutor(max_workers=max(1, min(self.concurrency, len(ids)))) as pool:
            hits = [hit for hit in pool.map(self._one, ids) if hit is not None]
        return Lookup(found=dict(hits), authoritative=True)


def no_lookup(send_ids: Iterable[str]) -> None:
    """A provider without a usable lookup: nothing can be proven either way."""
    return None
