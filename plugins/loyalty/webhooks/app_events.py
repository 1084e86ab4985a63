"""The shop's app and site behaviour events (``POST /events/app``): a signed JSON batch checked into rows
for raw.app_events.

Why strict, and all or nothing: the sender is the shop's own backend, which can fix and resend, not a
provider whose word we must keep. One bad event refuses the whole batch with a 400 naming the event's
index and field, so nothing is half stored and the corrected batch can be resent as is: event ids make a
resend a no-op for the events already stored. Events of customers the warehouse does not know yet are
accepted (the shop's customer file may arrive in the next hourly load).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, TypeVar

from loyalty.loader.entities import APP_EVENT_TYPES

from .providers import Rejected, load_json

MAX_APP_EVENTS = 1000  # per request: a bigger backlog is sent as several batches
MAX_ID_CHARS = 200  # event_id and order_id
MAX_FUTURE_HOURS = 1  # clock skew tolerated on occurred_at
MAX_FUTURE = dt.timedelta(hours=MAX_FUTURE_HOURS)
EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
FIELDS = (
    "event_id",
    "customer_id",
    "event_type",
    "occurred_at",
    "product_id",
    "quantity",
    "unit_price",
    "score",
    "order_id",
)
REQUIRED = ("event_id", "customer_id", "event_type", "occurred_at")
REQUIRED_BY_TYPE: Mapping[str, tuple[str, ...]] = {
    "product_viewed": ("product_id",),
    "added_to_cart": ("product_id", "quantity", "unit_price"),
    "removed_from_cart": ("product_id", "quantity"),
    "nps_answered": ("score",),
    "csat_answered": ("score",),
}
SCORE_RANGES: Mapping[str, tuple[int, int]] = {"nps_answered": (0, 10), "csat_answered": (1, 5)}
_BIGINT_MAX = 2**63 - 1
_INTEGER_MAX = 2**31 - 1
_PRICE_LIMIT = Decimal(10) ** 10  # numeric(12, 2): ten digits before the point
_MAX_TIMESTAMP_CHARS = 64
_T = TypeVar("_T")


@dataclass(frozen=True)
class AppEvent:
    """One checked event, typed as its raw.app_events columns."""

    event_id: str
    customer_id: int
    event_type: str
    occurred_at: dt.datetime
    product_id: int | None = None
    quantity: int | None = None
    unit_price: Decimal | None = None
    score: int | None = None
    order_id: str | None = None


class _Invalid(ValueError):
    """One field of one event is wrong; the message starts with the field's name."""


def app_events(body: bytes, now: dt.datetime) -> list[AppEvent]:
    """The batch ``{"events": [...]}`` as typed events, or ``Rejected(400)`` naming the first bad event and field."""
    batch = load_json(body)
    if not isinstance(batch, dict) or "events" not in batch:
        raise Rejected(400, 'body must be a JSON object {"events": [...]}')
    extra = sorted(set(batch) - {"events"})
    if extra:
        raise Rejected(400, f"unknown field(s) {', '.join(map(_shown, extra))} in the body (only events is allowed)")
    events = batch["events"]
    if not isinstance(events, list):
        raise Rejected(400, "events must be a JSON array")
    if len(events) > MAX_APP_EVENTS:
        raise Rejected(400, f"at most {MAX_APP_EVENTS} events per request, got {len(events)}: send several batches")
    checked = []
    for index, event in enumerate(events):
        try:
            checked.append(_event(event, now))
        except _Invalid as error:
            raise Rejected(400, f"event {index}: {error}") from None
    return checked


def _event(event: Any, now: dt.datetime) -> AppEvent:
    if not isinstance(event, dict):
        raise _Invalid("is not an object")
    unknown = sorted(set(event) - set(FIELDS))
    if unknown:
        raise _Invalid(f"unknown field(s) {', '.join(map(_shown, unknown))}")
    given = {name: value for name, value in event.items() if value is not None}
    missing = [name for name in REQUIRED if name not in given]
    if missing:
        raise _Invalid(f"{_listed(missing)} required")
    event_type = given["event_type"]
    if event_type not in APP_EVENT_TYPES:
        raise _Invalid(f"event_type must be one of {', '.join(APP_EVENT_TYPES)}")
    missing = [name for name in REQUIRED_BY_TYPE.get(event_type, ()) if name not in given]
    if missing:
        raise _Invalid(f"{_listed(missing)} required for {event_type}")
    return AppEvent(
        event_id=_text(given["event_id"], "event_id"),
        customer_id=_positive(given["customer_id"], "customer_id", _BIGINT_MAX),
        event_type=event_type,
        occurred_at=_occurred_at(given["occurred_at"], now),
        product_id=_optional(given, "product_id", lambda value: _positive(value, "product_id", _BIGINT_MAX)),
        quantity=_optional(given, "quantity", lambda value: _positive(value, "quantity", _INTEGER_MAX)),
        unit_price=_optional(given, "unit_price", _price),
        score=_optional(given, "score", lambda value: _score(value, event_type)),
        order_id=_optional(given, "order_id", lambda value: _text(value, "order_id")),
    )


def _optional(given: Mapping[str, Any], name: str, check: Callable[[Any], _T]) -> _T | None:
    return check(given[name]) if name in given else None


def _shown(name: str) -> str:
    """A sender's key in a message: cut short, quoted when it is not a plain name."""
    return name[:40] if name.isidentifier() else repr(name[:40])


def _listed(names: list[str]) -> str:
    return f"{names[0]} is" if len(names) == 1 else f"{', '.join(names)} are"


def _text(value: Any, name: str) -> str:
    if not isinstance(value, str) or not 0 < len(value) <= MAX_ID_CHARS:
        raise _Invalid(f"{name} must be a non-empty string of at most {MAX_ID_CHARS} characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise _Invalid(f"{name} contains a character that is not valid UTF-8 (a lone surrogate)") from None
    return value


def _positive(value: Any, name: str, most: int) -> int:
    """A JSON integer from 1 to ``most`` (its column's limit); not a bool, a float or a numeric string."""
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= most:
        raise _Invalid(f"{name} must be a positive integer (at most {most})")
    return value


def _score(value: Any, event_type: str) -> int:
    if event_type not in SCORE_RANGES:
        raise _Invalid(f"score is only for {' and '.join(SCORE_RANGES)}, not {event_type}")
    least, most = SCORE_RANGES[event_type]
    if not isinstance(value, int) or isinstance(value, bool) or not least <= value <= most:
        raise _Invalid(f"score must be an integer from {least} to {most} for {event_type}")
    return value


def _price(value: Any) -> Decimal:
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise _Invalid("unit_price must be a number")
    price = Decimal(str(value))  # the shortest text of a float: 19.99, not 19.989999...
    if not price.is_finite() or not 0 <= price < _PRICE_LIMIT:
        raise _Invalid(f"unit_price must be from 0 to less than {_PRICE_LIMIT:,.0f}")
    if price != price.quantize(Decimal("0.01")):
        raise _Invalid("unit_price must have at most 2 decimal places")
    return price


def _occurred_at(value: Any, now: dt.datetime) -> dt.datetime:
    """ISO 8601 with a UTC offset, or unix seconds; from 1970 to at most an hour ahead of ``now`` (clock skew)."""
    latest = now + MAX_FUTURE
    if isinstance(value, str) and len(value) <= _MAX_TIMESTAMP_CHARS:
        try:
            moment = dt.datetime.fromisoformat(value)
        except ValueError:
            raise _Invalid(f"occurred_at {value!r} is not an ISO 8601 date-time") from None
        if moment.tzinfo is None:
            raise _Invalid("occurred_at must carry a UTC offset (e.g. 2026-06-01T09:30:00+00:00 or ...Z)")
        try:
            moment = moment.astimezone(dt.UTC)
        except OverflowError:  # year 1 with a positive offset
            moment = dt.datetime.min.replace(tzinfo=dt.UTC)
    elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        # clamped before converting: a huge number is "in the future", not an overflow
        moment = dt.datetime.fromtimestamp(min(max(value, -1), latest.timestamp() + 1), dt.UTC)
    else:
        raise _Invalid("occurred_at must be an ISO 8601 date-time with a UTC offset, or unix seconds")
    if moment < EPOCH:
        raise _Invalid("occurred_at is before 1970")
    if moment > latest:
        raise _Invalid(f"occurred_at is more than {MAX_FUTURE_HOURS} hour in the future")
    return moment
