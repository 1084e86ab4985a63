"""What every channel takes and returns, so the ledger treats providers alike.

A channel's `deliver(messages, categories)` returns one `Outcome` per message:
- `sent`: the provider accepted it (its message id, and what it answered);
- `failed`: refused for good; `contactability` names why the *address* is dead (21610, 21211,
  UNREGISTERED), so the ledger can mark it non-contactable for every later workflow;
- `sending`: in doubt (a timeout: the provider may still accept it). The row stays claimed and is
  reconciled against the provider's lookup once the claim is older than the grace period;
- `pending`: the provider certainly did not take it (a 429 storm outlasted the retries): the row
  goes back to the queue, to be sent by a later attempt.
`lookup(send_ids)` asks the provider which of those send ids it holds (see `Lookup`).
"""

from __future__ import annotations

import email.utils
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal, TypedDict

OutcomeStatus = Literal["sent", "failed", "sending", "pending"]


class SendGridResponse(TypedDict):
    """What an accepted SendGrid batch answered (the same for every recipient of the request)."""

    status_code: int
    x_message_id: str | None


class TwilioResponse(TypedDict):
    """The created Twilio Message resource's id and status, and the segments the body takes (what the
    carrier bills; loyalty.channels.message_size)."""

    sid: str
    status: str
    segments: int
    encoding: str


class FcmResponse(TypedDict):
    """FCM's name for the sent message (projects/<id>/messages/<id>)."""

    name: str


class Reward(TypedDict):
    points: int | None
    coupon: str | None


class RewardResponse(TypedDict):
    """What a reward row granted: dbt reads it into the points ledger."""

    reward: Reward


class NoResponse(TypedDict):
    """No answer kept (a batch accepted despite an error, known from the provider's lookup)."""


# What a provider answered for an accepted message; stored as the ledger row's `response` (jsonb).
ProviderResponse = SendGridResponse | TwilioResponse | FcmResponse | RewardResponse


@dataclass(frozen=True)
class Message:
    """One rendered message for one recipient; `send_id` travels to the provider and back."""

    send_id: str
    recipient: str | None  # None on reward rows: a grant has no address
    subject: str
    body: str
    step_id: str = ""
    categories: tuple[str, ...] = ()
    custom_args: dict[str, str] = field(default_factory=dict)
    marketing: bool = False  # an email then carries the one-click unsubscribe (loyalty.unsubscribe)


@dataclass(frozen=True)
class SendResult:
    """The provider accepted the batch: its message id and what it answered."""

    provider_message_id: str | None
    status_code: int
    response: ProviderResponse | NoResponse


@dataclass(frozen=True)
class Outcome:
    """What happened to one message (see the module docstring for the statuses)."""

    send_id: str
    status: OutcomeStatus
    provider_message_id: str | None = None
    reason: str | None = None
    response: ProviderResponse | None = None
    contactability: str | None = None  # a loyalty.contactability reason: the address is dead


@dataclass(frozen=True)
class Lookup:
    """Send ids the provider holds (with its message id). `authoritative`: an id not in `found`
    was certainly never accepted (the emulator's lookup, read after the request could finish);
    otherwise absence proves nothing and an unresolved row becomes `unknown`."""

    found: Mapping[str, str | None]
    authoritative: bool


class PermanentError(Exception):
    """The provider refused the request for good (bad payload, bad address): do not retry."""

    def __init__(self, status_code: int, detail: str, code: str | None = None) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.detail = detail
        self.code = code


class TransientError(Exception):
    """The request failed in a way a later try may not (429, 5xx, a dropped connection).

    `accepted_unknown`: the provider may have accepted it anyway (5xx, dropped connection), so a
    retry must first look the send id up; a 429 is a refusal, safe to retry as is.
    """

    def __init__(
        self, status_code: int, detail: str, retry_after: float | None = None, accepted_unknown: bool = False
    ) -> None:
        super().__init__(f"HTTP {status_code}: {detail}")
        self.status_code = status_code
        self.retry_after = retry_after
        self.accepted_unknown = accepted_unknown


class InDoubtError(Exception):
    """The request timed out: the provider may still accept it later. Never retried in-task."""


def retry_after_seconds(headers: Mapping[str, str] | None, now: float | None = None) -> float | None:
    """Seconds to wait from `Retry-After` (seconds or an HTTP date) or `X-RateLimit-Reset`
    (SendGrid: the Unix time the window resets), whichever asks for longer."""
    if not headers:
        return None
    lowered = {str(k).lower(): str(v) for k, v in headers.items()}
    now = time.time() if now is None else now
    waits: list[float] = []
    if value := lowered.get("retry-after"):
        try:
            waits.append(float(value))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(value)
            if parsed is not None:
                waits.append(parsed.timestamp() - now)
    if value := lowered.get("x-ratelimit-reset"):
        try:
            reset = float(value)
            waits.append(reset - now if reset > 1e9 else reset)  # Unix time, or seconds from now
        except ValueError:
            pass
    return max(0.0, *waits) if waits else None


class RateLimiter:
    """Paces requests to `per_second` messages across the threads of one task, and holds every
    thread back after a provider said "retry after" (one 429 pauses all, not just its sender).

    `per_second=None` only applies the pauses.
    """

    def __init__(
        self,
        per_second: float | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.interval = 1.0 / per_second if per_second else 0.0
        self._clock, self._sleep = clock, sleep
        self._lock = threading.Lock()
        self._next = 0.0
        self._paused_until = 0.0

    def acquire(self, messages: int = 1) -> None:
        """Block until `messages` more may go out."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next, self._paused_until)
            self._next = start + self.interval * messages
        if start > now:
            self._sleep(start - now)

    def pause(self, seconds: float) -> None:
        """Nobody sends for `seconds` from now (the provider's Retry-After)."""
        with self._lock:
            self._paused_until = max(self._paused_until, self._clock() + seconds)
