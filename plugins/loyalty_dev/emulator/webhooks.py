"""Background, at-least-once delivery of provider webhooks.

Channel-agnostic: a channel hands over *items* (message records) together with how many events
each will expand to, plus ``expand(item) -> events`` and ``sign(body, batch, url) -> headers``
(``encode(batch) -> body`` defaults to compact JSON; ``target(batch) -> url`` defaults to the
dispatcher's one URL; Twilio posts each callback to its message's own StatusCallback).
Expansion and posting happen off the request path, in asyncio tasks, so accepting a
1000-recipient request costs no I/O. A batch that fails (non-2xx or connection error) is
retried with exponential backoff; after ``max_attempts`` it is kept as a dead letter (counted,
and redeliverable), never dropped silently.

Faults a receiver must survive: ``duplicate_rate`` posts a share of batches twice (the copy is
posted again later, after other batches, as a provider's retry would be), and ``out_of_order``
shuffles queued events across messages and batches so a later event can arrive first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import deque
from collections.abc import Callable
from typing import Any

import httpx

log = logging.getLogger(__name__)

Event = dict[str, Any]
Encoder = Callable[[list[Event]], bytes]
Signer = Callable[[bytes, list[Event], str], dict[str, str]]
Expander = Callable[[Any], list[Event]]
Target = Callable[[list[Event]], str | None]

_REORDER_WINDOW = 256  # events shuffled together when out_of_order is on


def json_body(batch: list[Event]) -> bytes:
    """Compact JSON, ASCII only so the signed bytes equal the UTF-8 text a receiver decodes."""
    return json.dumps(batch, separators=(",", ":")).encode("ascii")


class WebhookDispatcher:
    """Queues events for one webhook target and posts them in batches from worker tasks."""

    def __init__(
        self,
        name: str,
        url: str | None,
        *,
        expand: Expander,
        encode: Encoder | None = None,
        sign: Signer,
        target: Target | None = None,
        batch_size: int = 500,
        concurrency: int = 4,
        max_attempts: int = 10,
        backoff_s: float = 0.2,
        backoff_max_s: float = 10.0,
        timeout_s: float = 10.0,
        linger_s: float = 0.02,
        duplicate_rate: float = 0.0,
        out_of_order: bool = False,
        seed: int = 0,
    ) -> None:
        self.name = name
        self.url = url
        self.expand = expand
        self.encode = encode or json_body
        self.sign = sign
        self.target = target
        self.out_of_order = out_of_order
        self.batch_size = batch_size
        self.concurrency = max(1, concurrency)
        self.max_attempts = max_attempts
        self.backoff_s = backoff_s
        self.backoff_max_s = backoff_max_s
        self.timeout_s = timeout_s
        self.linger_s = linger_s
        self.duplicate_rate = duplicate_rate
        self._rng = random.Random(seed)
        self._items: deque[tuple[Any, int]] = deque()
        self._events: deque[Event] = deque()
        self._unexpanded = 0  # events still inside _items
        self._wake: asyncio.Event | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None
        self._generation = 0
        self._late_tasks: set[asyncio.Task[None]] = set()
        self._late = 0  # duplicate posts scheduled for later (out_of_order)
        self.dead_letters: list[list[Event]] = []
        self._zero()

    def _zero(self) -> None:
        self.events_queued = 0
        self.events_posted = 0
        self.events_in_flight = 0
        self.events_dead_lettered = 0
        self.posts = 0
        self.posts_failed = 0
        self.duplicate_posts = 0
        self.internal_errors = 0

    # -- request path (synchronous, cheap) ---------------------------------------------------
    def enqueue(self, item: Any, n_events: int) -> None:
        """Queue one message's events; a no-op when there is nowhere to post them."""
        if n_events <= 0 or (self.url is None and self.target is None):
            return
        self._items.append((item, n_events))
        self._unexpanded += n_events
        self.events_queued += n_events
        if self._wake is not None:
            self._wake.set()

    @property
    def pending(self) -> int:
        """Events accepted for posting that are neither posted nor dead-lettered yet."""
        return self._unexpanded + len(self._events) + self.events_in_flight + self._late

    def stats(self) -> dict[str, int]:
        return {
            "events_queued": self.events_queued,
            "events_posted": self.events_posted,
            "pending_events": self.pending,
            "events_dead_lettered": self.events_dead_lettered,
            "webhook_posts": self.posts,
            "webhook_posts_failed": self.posts_failed,
            "webhook_duplicate_posts": self.duplicate_posts,
            "webhook_internal_errors": self.internal_errors,
        }

    def reset(self) -> None:
        """Forget queued events and counters; in-flight posts finish but are not counted."""
        self._generation += 1
        self._items.clear()
        self._events.clear()
        self._unexpanded = 0
        self._late = 0
        self.dead_letters.clear()
        self._zero()

    def redeliver_dead_letters(self) -> int:
        """Put dead-lettered batches back in the queue (e.g. once the receiver is fixed)."""
        n = 0
        for batch in self.dead_letters:
            self._events.extend(batch)
            n += len(batch)
        self.dead_letters.clear()
        self.events_dead_lettered -= n
        if self._wake is not None and n:
            self._wake.set()
        return n

    # -- lifecycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        self._wake = asyncio.Event()
        self._client = httpx.AsyncClient(
            timeout=self.timeout_s,
            limits=httpx.Limits(max_connections=self.concurrency * 2),
        )
        self._tasks = [
            asyncio.create_task(self._worker(), name=f"{self.name}-webhook-{i}") for i in range(self.concurrency)
        ]
        if self._items or self._events:
            self._wake.set()

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._late_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    async def wait_idle(self, timeout: float) -> bool:
        """Wait until nothing is pending; False on timeout."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while self.pending:
            if loop.time() >= deadline:
                return False
            await asyncio.sleep(0.01)
        return True

    # -- workers -----------------------------------------------------------------------------
    def _take(self) -> list[Event]:
        """Pop up to one batch, expanding queued messages as needed (no await: atomic)."""
        want = max(self.batch_size * 4, _REORDER_WINDOW) if self.out_of_order else self.batch_size
        expanded = False
        while len(self._events) < want and self._items:
            item, n = self._items.popleft()
            self._unexpanded -= n
            self._events.extend(self.expand(item))
            expanded = True
        if self.out_of_order and expanded:
            shuffled = list(self._events)
            self._rng.shuffle(shuffled)
            self._events = deque(shuffled)
        k = min(self.batch_size, len(self._events))
        return [self._events.popleft() for _ in range(k)]

    async def _worker(self) -> None:
        assert self._wake is not None
        while True:
            if not (self._items or self._events):
                self._wake.clear()
                await self._wake.wait()
                continue
            if self.linger_s and self._unexpanded + len(self._events) < self.batch_size:
                await asyncio.sleep(self.linger_s)
            try:
                batch = self._take()
                if batch:
                    await self._deliver(batch)
            except asyncio.CancelledError:
                raise
            except Exception:  # a bug here must not kill the worker; it is logged and counted
                self.internal_errors += 1
                log.exception("%s webhook worker error", self.name)

    async def _deliver(self, batch: list[Event]) -> None:
        generation = self._generation
        self.events_in_flight += len(batch)
        try:
            await self._deliver_with_retries(batch, generation)
        except asyncio.CancelledError:
            raise
        except Exception:
            if generation == self._generation:
                self.dead_letters.append(batch)
                self.events_dead_lettered += len(batch)
            raise
        finally:
            if generation == self._generation:
                self.events_in_flight -= len(batch)

    async def _post(self, body: bytes, batch: list[Event]) -> bool:
        """One attempt, signed afresh (a new timestamp), as a real retry would be."""
        url = self.target(batch) if self.target is not None else self.url
        if self._client is None or url is None:
            return False  # webhook URL removed at run time: retried, then dead-lettered
        try:
            response = await self._client.post(url, content=body, headers=self.sign(body, batch, url))
        except httpx.HTTPError as exc:
            log.warning("%s webhook post failed: %r", self.name, exc)
            return False
        if 200 <= response.status_code < 300:
            return True
        log.warning("%s webhook post got HTTP %s", self.name, response.status_code)
        return False

    async def _post_late(self, body: bytes, batch: list[Event], generation: int) -> None:
        try:
            await asyncio.sleep(self._rng.random() * 0.2)
            if not await self._post(body, batch) and generation == self._generation:
                self.posts_failed += 1
        finally:
            if generation == self._generation:
                self._late -= 1

    async def _deliver_with_retries(self, batch: list[Event], generation: int) -> None:
        body = self.encode(batch)
        attempt = 0
        while True:
            attempt += 1
            ok = await self._post(body, batch)
            if generation != self._generation:
                return
            self.posts += 1
            if ok:
                self.events_posted += len(batch)
                if self.duplicate_rate and self._rng.random() < self.duplicate_rate:
                    self.duplicate_posts += 1
                    if self.out_of_order:  # the copy lands later, after other posts
                        self._late += 1
                        task = asyncio.create_task(self._post_late(body, batch, generation))
                        self._late_tasks.add(task)
                        task.add_done_callback(self._late_tasks.discard)
                    elif not await self._post(body, batch):
                        self.posts_failed += 1
                return
            self.posts_failed += 1
            if attempt >= self.max_attempts:
                self.dead_letters.append(batch)
                self.events_dead_lettered += len(batch)
                log.error(
                    "%s webhook: batch of %d events dead-lettered",
                    self.name,
                    len(batch),
                )
                return
            await asyncio.sleep(min(self.backoff_s * 2 ** (attempt - 1), self.backoff_max_s))
