"""What the emulator remembers: requests, per-recipient messages, injected faults, the clock.

Channel-agnostic so Twilio and FCM modules can record into the same store; each message record
only needs ``channel``, ``send_id`` and ``to_dict()``.
"""

from __future__ import annotations

import base64
import random
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from .clock import SimClock
from .webhooks import WebhookDispatcher


class MessageRecord(Protocol):
    channel: str
    send_id: str | None

    def to_dict(self) -> dict[str, Any]: ...


@dataclass(slots=True)
class RequestRecord:
    """One API call as received (accepted or not)."""

    channel: str
    path: str
    status: int
    body_bytes: int
    recipients: int
    message_id: str | None
    received_at: float  # simulated unix seconds


FAULT_KINDS = ("status", "timeout", "drop")
CHANNELS = ("email", "sms", "push")


@dataclass(slots=True)
class Fault:
    """An injected failure for the next ``count`` API calls of a channel (email, sms, push).

    ``kind``: ``status`` answers ``status`` (429 with ``retry_after``, 500, 503...) in the
    provider's error shape; ``timeout`` waits ``delay_s`` (30 s when 0) before answering, long
    enough for a client to give up; ``drop`` sends the response headers, then closes the
    connection without a body. ``after_accept``: the request is fully accepted and recorded
    first (the "did it send or not?" case a ledger must reconcile); for ``timeout`` the late
    answer is then the normal success. ``retry_after`` sets ``Retry-After`` (and SendGrid's
    ``X-RateLimit-Reset``).
    """

    status: int = 500
    count: int = 1
    retry_after: float | None = None
    after_accept: bool = False
    delay_s: float = 0.0
    channel: str = "email"
    kind: str = "status"

    def __post_init__(self) -> None:
        if self.kind not in FAULT_KINDS:
            raise ValueError(f"fault kind must be one of {FAULT_KINDS}, got {self.kind!r}")
        if self.channel not in CHANNELS:
            raise ValueError(f"fault channel must be one of {CHANNELS}, got {self.channel!r}")
        if not 400 <= int(self.status) <= 599:
            raise ValueError(f"fault status must be a 4xx/5xx code, got {self.status}")
        if self.count < 1:
            raise ValueError("fault count must be >= 1")
        if self.kind == "timeout" and not self.delay_s:
            self.delay_s = 30.0


class EmulatorState:
    """In-memory store shared by every channel of one emulator instance."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.clock = SimClock()
        self._rng = random.Random(seed)
        self.dispatchers: dict[str, WebhookDispatcher] = {}
        self.expanders: dict[str, Callable[[Any], list[dict[str, Any]]]] = {}  # channel -> events of a message
        self.faults: deque[Fault] = deque()
        self.reset()

    def reset(self) -> None:
        """Forget every record, counter and fault (the clock and settings stay)."""
        self._rng = random.Random(self.seed)
        self.requests: list[RequestRecord] = []
        self.requests_accepted = 0
        self.request_bytes = 0
        self.messages: list[MessageRecord] = []
        self.by_send_id: dict[str, list[int]] = defaultdict(list)
        self.events_generated = 0
        self.sms_opted_out: set[str] = set()  # numbers that replied STOP (sends answer 21610)
        self.inbound_sms: list[dict[str, Any]] = []
        self.unregistered_tokens: set[str] = set()  # device tokens FCM answers UNREGISTERED
        self.faults.clear()
        for dispatcher in self.dispatchers.values():
            dispatcher.reset()

    def new_id(self, nbytes: int = 16) -> str:
        """Seeded, URL-safe id: 16 bytes give SendGrid's 22-character X-Message-Id."""
        raw = self._rng.getrandbits(nbytes * 8).to_bytes(nbytes, "big")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def new_hex(self, prefix: str, nbytes: int = 16) -> str:
        """Seeded Twilio-style SID: a two-letter prefix and 32 hex digits."""
        return f"{prefix}{self._rng.getrandbits(nbytes * 8):0{nbytes * 2}x}"

    def record_request(self, record: RequestRecord) -> None:
        self.requests.append(record)
        self.requests_accepted += 200 <= record.status < 300
        self.request_bytes += record.body_bytes

    def add_message(self, message: MessageRecord, n_events: int, dispatcher: str) -> None:
        """Store a message and hand its events to the channel's webhook dispatcher."""
        if message.send_id is not None:
            self.by_send_id[message.send_id].append(len(self.messages))
        self.messages.append(message)
        self.emit(message, n_events, dispatcher)

    def emit(self, item: Any, n_events: int, dispatcher: str) -> None:
        """Hand ``n_events`` webhook events (expanded from ``item``) to a dispatcher."""
        d = self.dispatchers[dispatcher]
        if n_events > 0 and (d.url is not None or d.target is not None):
            self.events_generated += n_events
        d.enqueue(item, n_events)

    def find(self, send_id: str | None = None, channel: str | None = None) -> list[MessageRecord]:
        found = [self.messages[i] for i in self.by_send_id.get(send_id, ())] if send_id is not None else self.messages
        if channel is not None:
            found = [m for m in found if m.channel == channel]
        return found

    def take_fault(self, channel: str) -> Fault | None:
        """The next injected fault for ``channel``, consuming one use of it."""
        for fault in self.faults:
            if fault.channel == channel:
                fault.count -= 1
                if fault.count <= 0:
                    self.faults.remove(fault)
                return fault
        return None

    def stats(self) -> dict[str, Any]:
        totals: dict[str, int] = defaultdict(int)
        for dispatcher in self.dispatchers.values():
            for key, value in dispatcher.stats().items():
                totals[key] += value
        return {
            "requests": len(self.requests),
            "requests_accepted": self.requests_accepted,
            "request_bytes": self.request_bytes,
            "messages": len(self.messages),
            "events_generated": self.events_generated,
            **totals,
            "faults_pending": sum(f.count for f in self.faults),
            "clock": self.clock.now_iso(),
        }

    def faults_as_dicts(self) -> list[dict[str, Any]]:
        return [asdict(f) for f in self.faults]
