"""Durable storage for verified events: a few warehouse connections kept per worker process.

Each request's events are written in one transaction (events, then the contactability changes
they cause) and committed before the receiver answers 2xx. The SQL lives in loyalty/sql/webhooks/.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import psycopg

from loyalty.sql_files import query

from .app_events import AppEvent


@dataclass(frozen=True)
class Stored:
    stored: int
    unmatched: int
    contactability_changes: int


class EventStore:
    """Up to ``max_connections`` open connections, reused across requests (thread-safe)."""

    def __init__(self, url: str, max_connections: int = 4) -> None:
        self.url = url
        self._slots = threading.BoundedSemaphore(max(1, max_connections))
        self._idle: queue.LifoQueue[psycopg.Connection] = queue.LifoQueue()
        self._sendgrid_sql = query("webhooks/ingest_sendgrid_events.sql")
        self._events_sql = query("webhooks/ingest_events.sql")
        self._app_events_sql = query("webhooks/ingest_app_events.sql")

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection]:
        """A connection in a transaction, committed on success (rolled back otherwise)."""
        with self._slots:
            try:
                conn = self._idle.get_nowait()
            except queue.Empty:
                conn = psycopg.connect(self.url)
            try:
                yield conn
                conn.commit()
            except BaseException:
                if not conn.closed and not conn.broken:
                    conn.rollback()
                raise
            finally:
                if conn.closed or conn.broken:
                    conn.close()
                else:
                    self._idle.put(conn)

    def _result(self, row: tuple[int, int, int] | None) -> Stored:
        assert row is not None
        return Stored(int(row[0]), int(row[1]), int(row[2]))

    def ingest_sendgrid(self, body_text: str) -> Stored:
        """A checked SendGrid batch, passed through as JSON text (Postgres unpacks it)."""
        with self.transaction() as conn:
            return self._result(conn.execute(self._sendgrid_sql, {"events": body_text}).fetchone())

    def ingest(self, records: list[dict[str, Any]]) -> Stored:
        with self.transaction() as conn:
            return self._ingest(conn, records)

    def _ingest(self, conn: psycopg.Connection, records: list[dict[str, Any]]) -> Stored:
        events = json.dumps(records, separators=(",", ":"))
        return self._result(conn.execute(self._events_sql, {"events": events}).fetchone())

    def ingest_app_events(self, events: Sequence[AppEvent]) -> int:
        """A checked batch of app events in one transaction, one array per column (a single insert however
        many events); returns how many were new, the others being resends already stored."""
        params = {
            "event_ids": [event.event_id for event in events],
            "customer_ids": [event.customer_id for event in events],
            "event_types": [event.event_type for event in events],
            "occurred_ats": [event.occurred_at for event in events],
            "product_ids": [event.product_id for event in events],
            "quantities": [event.quantity for event in events],
            "unit_prices": [event.unit_price for event in events],
            "scores": [event.score for event in events],
            "order_ids": [event.order_id for event in events],
        }
        with self.transaction() as conn:
            row = conn.execute(self._app_events_sql, params).fetchone()
        assert row is not None
        return int(row[0])

    def ingest_for_known_send(self, send_id: str, record: dict[str, Any]) -> Stored | None:
        """Store ``record`` only when the ledger knows ``send_id`` (None otherwise, nothing stored)."""
        with self.transaction() as conn:
            known = conn.execute("select 1 from loyalty.send_ledger where send_id = %s", [send_id]).fetchone()
            if known is None:
                return None
            return self._ingest(conn, [record])

    def ping(self) -> None:
        with self.transaction() as conn:
            conn.execute("select 1")

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return
