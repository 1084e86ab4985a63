"""A simulated clock so a demo can replay any day and tests get exact event timestamps."""

from __future__ import annotations

import time
from datetime import UTC, datetime


class SimClock:
    """Simulated UTC time: an anchor that advances with real time unless frozen.

    Setting the clock to 2026-06-01T09:00 makes the emulator behave as if that moment were
    now; a minute of real time later it reads 09:01 (or still 09:00 when ``frozen``).
    """

    def __init__(self) -> None:
        self._anchor: float | None = None  # simulated unix seconds at _real_at
        self._real_at = 0.0
        self.frozen = False

    def now(self) -> float:
        """Simulated unix seconds."""
        if self._anchor is None:
            return time.time()
        if self.frozen:
            return self._anchor
        return self._anchor + (time.monotonic() - self._real_at)

    def now_iso(self) -> str:
        return datetime.fromtimestamp(self.now(), UTC).isoformat()

    def set(self, when: datetime | float, *, frozen: bool = False) -> None:
        """Set simulated now; naive datetimes are read as UTC."""
        if isinstance(when, datetime):
            if when.tzinfo is None:
                when = when.replace(tzinfo=UTC)
            when = when.timestamp()
        self._anchor = float(when)
        self._real_at = time.monotonic()
        self.frozen = frozen

    def advance(self, seconds: float) -> None:
        self.set(self.now() + seconds, frozen=self.frozen)

    def reset(self) -> None:
        """Back to real time."""
        self._anchor = None
        self.frozen = False

    def snapshot(self) -> dict[str, object]:
        return {
            "now": self.now_iso(),
            "unix": self.now(),
            "frozen": self.frozen,
            "simulated": self._anchor is not None,
        }


def parse_iso(value: str) -> datetime:
    """ISO-8601 (a trailing ``Z`` is accepted by Python 3.11+)."""
    return datetime.fromisoformat(value)
