"""Deterministic message fates: the same (seed, recipient, send id) gives the same outcome.

A keyed hash, not a shared random stream, so the outcome of one message never depends on how
many messages came before it, on batching, or on which process sent it.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from .config import EmailRates, PushRates, SmsRates

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
    unsubscribed_at: int | None = None
    spam_reported_at: int | None = None

    @property
    def status(self) -> str:
        return "delivered" if self.delivered else "bounced"

    @property
    def event_count(self) -> int:
        return 2 + self.opened + self.clicked + (self.unsubscribed_at is not None) + (self.spam_reported_at is not None)


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
    v = uniforms(seed, email.lower(), key + "\x1fmore")  # a second draw: the first eight stay as they were
    unsubscribed_at = (
        min(step + 120 + int(v[1] * 4 * 3600), day_end) if delivered and v[0] < rates.unsubscribe_rate else None
    )
    spam_reported_at = min(step + 300 + int(v[3] * 4 * 3600), day_end) if delivered and v[2] < rates.spam_rate else None
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
        unsubscribed_at=unsubscribed_at,
        spam_reported_at=spam_reported_at,
    )


# Twilio error codes a status callback carries (https://www.twilio.com/docs/api/errors).
UNDELIVERED_CODES = ("30003", "30005", "30006", "30007")  # unreachable, unknown, landline, filtered
FAILED_CODES = ("30008",)  # unknown error


@dataclass(slots=True)
class SmsFate:
    """What happens to one SMS: queued → sent → delivered | undelivered, or queued → failed."""

    status: str  # delivered | undelivered | failed
    error_code: str | None
    queued_at: int
    sent_at: int | None
    final_at: int
    replied_stop_at: int | None

    def statuses(self) -> list[tuple[str, int]]:
        """The status callbacks in the order Twilio reports them, with their times."""
        seq = [("queued", self.queued_at)]
        if self.sent_at is not None:
            seq.append(("sent", self.sent_at))
        seq.append((self.status, self.final_at))
        return seq


def sms_fate(seed: int, to: str, key: str, sent_at: float, rates: SmsRates) -> SmsFate:
    """Delivered 1-10 s after the send (else undelivered/failed with an error code); a delivered
    message is answered with STOP 1 min to 3 h later at ``unsubscribe_rate``."""
    u = uniforms(seed, to, key)
    sent = int(sent_at)
    day_end = sent - sent % _DAY + _DAY - 1
    delivered = u[0] < rates.delivery_rate
    failed = not delivered and u[1] < 0.3
    handed_over = None if failed else min(sent + 1, day_end)
    final_at = min(sent + 1 + int(u[2] * 10), day_end)
    if delivered:
        status, code = "delivered", None
    elif failed:
        status, code = "failed", FAILED_CODES[int(u[3] * len(FAILED_CODES))]
    else:
        status, code = "undelivered", UNDELIVERED_CODES[int(u[3] * len(UNDELIVERED_CODES))]
    replied = delivered and u[4] < rates.unsubscribe_rate
    return SmsFate(
        status=status,
        error_code=code,
        queued_at=min(sent, day_end),
        sent_at=handed_over,
        final_at=max(final_at, handed_over or 0),
        replied_stop_at=min(final_at + 60 + int(u[5] * 3 * 3600), day_end) if replied else None,
    )


@dataclass(slots=True)
class PushFate:
    """Receipts the app reports for one accepted push message."""

    delivered_at: int | None
    opened_at: int | None

    @property
    def status(self) -> str:
        return "opened" if self.opened_at is not None else "delivered" if self.delivered_at is not None else "sent"


def token_unregistered(seed: int, token: str, rates: PushRates) -> bool:
    """Whether FCM treats this device token as UNREGISTERED (a property of the token)."""
    return uniforms(seed, token, "unregistered")[0] < rates.bounce_rate


def push_fate(seed: int, token: str, key: str, sent_at: float, rates: PushRates) -> PushFate:
    """Delivered 1-30 s after the send, opened 1 min to 6 h after delivery."""
    u = uniforms(seed, token, key)
    sent = int(sent_at)
    day_end = sent - sent % _DAY + _DAY - 1
    delivered_at = min(sent + 1 + int(u[0] * 30), day_end) if u[1] < rates.delivery_rate else None
    opened = delivered_at is not None and u[2] < rates.open_rate
    return PushFate(
        delivered_at=delivered_at,
        opened_at=min(delivered_at + 60 + int(u[3] * 6 * 3600), day_end) if opened and delivered_at else None,
    )
