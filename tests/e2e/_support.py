"""Helpers the end-to-end modules share: one row from the warehouse, the emulator's recorded state."""

from __future__ import annotations

from typing import Any

import httpx
import psycopg

from loyalty_dev.demo import Stack


def one(url: str, query: str, params: list | None = None) -> Any:
    """The first row of `query` (or None)."""
    with psycopg.connect(url) as conn:
        return conn.execute(query, params).fetchone()


def emulator_state(stack: Stack, path: str) -> Any:
    """GET /_emulator/<path> of the stack's emulator (messages, webhook deliveries...), as JSON."""
    response = httpx.get(f"{stack.emulator.url}/_emulator/{path}", timeout=60)
    response.raise_for_status()
    return response.json()
