"""Per-message delivery for channels without batch APIs (SMS, push): a bounded thread pool over
one pooled HTTP client, pacing by a shared `RateLimiter`, and retries that never send twice.

Retry rules, per message:
- 429 / `Retry-After`: every thread pauses for the time the provider asked, then retries;
- 5xx or a dropped connection: the provider may have accepted it, so the send id is looked up
  first: found -> `sent`; certainly absent (authoritative lookup) -> retry; otherwise `sending`;
- timeout: `sending` (in doubt; reconciled after the grace period, never retried here);
- permanent refusal: `failed`, with the contactability reason when the address is dead.
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor

from loyalty.channels.base import (
    InDoubtError,
    Lookup,
    Message,
    Outcome,
    PermanentError,
    RateLimiter,
    TransientError,
)

log = logging.getLogger(__name__)
MAX_WAIT_S = 60.0


def backoff(attempt: int, base: float = 0.25, cap: float = 10.0) -> float:
    return min(cap, base * 2.0 ** (attempt - 1))


def deliver_each(
    messages: Sequence[Message],
    send_one: Callable[[Message], Outcome],
    lookup: Callable[[Iterable[str]], Lookup | None],
    limiter: RateLimiter,
    concurrency: int,
    attempts: int,
    contactability: Callable[[PermanentError], str | None],
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """One Outcome per message, in order; at most `concurrency` requests in flight."""

    def one(message: Message) -> Outcome:
        error: Exception | None = None
        for attempt in range(1, attempts + 1):
            limiter.acquire()
            try:
                return send_one(message)
            except PermanentError as refused:
                return Outcome(
                    message.send_id, "failed", reason=str(refused)[:500], contactability=contactability(refused)
                )
            except InDoubtError as doubt:
                return Outcome(message.send_id, "sending", reason=f"in doubt: {doubt}"[:500])
            except TransientError as transient:
                error = transient
                if transient.accepted_unknown:
                    seen = lookup([message.send_id])
                    if seen is not None and message.send_id in seen.found:
                        return Outcome(
                            message.send_id,
                            "sent",
                            provider_message_id=seen.found[message.send_id],
                            reason=f"accepted despite {transient}"[:500],
                        )
                    if seen is None or not seen.authoritative:
                        return Outcome(message.send_id, "sending", reason=f"in doubt: {transient}"[:500])
                if attempt == attempts:
                    break
                if transient.retry_after is not None:
                    limiter.pause(min(transient.retry_after, MAX_WAIT_S))
                else:
                    sleep(backoff(attempt))
        log.warning("%s: still refused after %d attempts (%s): back to pending", message.send_id, attempts, error)
        return Outcome(message.send_id, "pending", reason=f"retries exhausted: {error}"[:500])

    if concurrency <= 1 or len(messages) <= 1:
        return [one(message) for message in messages]
    with ThreadPoolExecutor(max_workers=min(concurrency, len(messages)), thread_name_prefix="deliver") as pool:
        return list(pool.map(one, messages))


class PerMessageChannel(ABC):
    """Channels whose API takes one message per request (SMS, push): subclasses provide `_send_one`,
    `_contactability`, `lookup`, `limiter`, `concurrency` and `attempts`; delivery is shared."""

    lookup: Callable[[Iterable[str]], Lookup | None]
    limiter: RateLimiter
    concurrency: int
    attempts: int

    @abstractmethod
    def _send_one(self, message: Message) -> Outcome:
        """One request for one message: an Outcome, or PermanentError / TransientError / InDoubtError."""

    @staticmethod
    @abstractmethod
    def _contactability(error: PermanentError) -> str | None:
        """The loyalty.contactability reason a permanent refusal gives the address, if it is dead."""

    def deliver(self, messages: Sequence[Message], categories: Sequence[str]) -> list[Outcome]:
        return deliver_each(
            messages,
            self._send_one,
            self.lookup,
            self.limiter,
            self.concurrency,
            self.attempts,
            self._contactability,
        )
