"""Deterministic message fates: the same (seed, recipient, send id) gives the same outcome.

A keyed hash, not a shared random stream, so the outcome of one message never depends on how
many messages came before it, on batching, or on which process sent it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from .config import EmailRates

_U32 = 4294967296.0
_DAY = 86400

BOUNCE_REASONS = (
    "550 5.1.1 The email account that you tried to reach does not exist.",
    "550 5.1.1 <{email}>: Recipient address rejected: User unknown in virtual mailbox table",
    "550 5.1.1 No such user here",
)
CLICK_URLS = (
    "https://shop.example.com/rewards",
    "https://shop.example.com/offers",
    "https://shop.example.com/account/points",
)


def uniforms(seed: int, email: str, key: str) -> tuple[float, ...]:
    """Eight independent uniforms in [0, 1) from one blake2b digest."""
    digest = hashlib.blake2b(f"{seed}\x1f{email}\x1f{key}".encode(), digest_size=32).digest()
    return tuple(v / _U32 for v in struct.unpack("<8I", digest))


@dataclass(slots=True)
class EmailFate:
    """What happens to one email and when (simulated unix seconds, ints)."""

    delivered: bool
    opened: bool
    clicked: bool
    processed_at: int
    delivered_at: int | None
    bounced_at: int | None
    opened_at: int | None
    clicked_at: int | None
    bounce_reason: str | None
    click_url: str | None

    @property
    def status(self) -> str:
        return "delivered" if self.delivered else "bounced"

    @property
    def event_count(self) -> int:
        return 2 + self.opened + self.clicked


def email_fate(seed: int, email: str, key: str, sent_at: float, rates: EmailRates) -> EmailFate:
    """Decide delivery, open and click, with timestamps inside the simulated send day.

    Delivered/bounced 1-10 s after the send, opened 1 min to 6 h later, clicked 5 s to 30 min
    after the open; every timestamp is clamped to the last second of the send's UTC day and
    never goes backwards.
    """
    u = uniforms(seed, email.lower(), key)
    sent = int(sent_at)
    day_end = sent - sent % _DAY + _DAY - 1
    delivered = u[0] < rates.delivery_rate
    opened = delivered and u[1] < rates.open_rate
    clicked = opened and u[2] < rates.click_rate
    step = min(sent + 1 + int(u[3] * 10), day_end)
    opened_at = min(step + 60 + int(u[4] * 6 * 3600), day_end) if opened else None
    clicked_at = min(opened_at + 5 + int(u[5] * 1800), day_end) if clicked and opened_at else None
    return EmailFate(
        delivered=delivered,
        opened=opened,
        clicked=clicked,
        processed_at=min(sent, day_end),
        delivered_at=step if delivered else None,
        bounced_at=None if delivered else step,
        opened_at=opened_at,
        clicked_at=clicked_at,
        bounce_reason=None if delivered else BOUNCE_REASONS[int(u[6] * len(BOUNCE_REASONS))].format(email=email),
        click_url=CLICK_URLS[int(u[7] * len(CLICK_URLS))] if clicked else None,
    )
