"""The simulated world moving forward: releasing scheduled rows and reacting to messages.

`advance_to` is what the retailer's systems would do each night: land the day's new customers
and orders in `raw`. `react_to_messages` is the customers' side of a campaign: given the
messages the provider emulator delivered, persuaded customers schedule an extra order.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg

from loyalty_dev.simulation.truth import TRUTH

RELEASE_SQL = {
    "customers": """
        insert into raw.customers
        select * from sim.scheduled_customers where signup_at < %(until)s
        on conflict (customer_id) do nothing""",
    "orders": """
        insert into raw.orders (order_id, customer_id, ordered_at, status, order_total)
        select order_id, customer_id, ordered_at, status, order_total
        from sim.scheduled_orders where ordered_at < %(until)s
        on conflict (order_id) do nothing""",
    "order_lines": """
        insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price)
        select order_line_id, order_id, product_id, quantity, unit_price
        from sim.scheduled_order_lines where ordered_at < %(until)s
        on conflict (order_line_id) do nothing""",
}


def advance_to(conn: psycopg.Connection, day: dt.date) -> dict[str, int]:
    """Land every scheduled row up to the end of `day` in raw; idempotent."""
    until = dt.datetime.combine(day + dt.timedelta(days=1), dt.time(), tzinfo=dt.UTC)
    released = {}
    for table, sql in RELEASE_SQL.items():
        released[f"released_{table}"] = conn.execute(sql, {"until": until}).rowcount
    return released


@dataclass(frozen=True)
class DeliveredMessage:
    """What a customer's inbox or phone knows: who got it, which campaign it belongs to, when.

    An email names its campaign (its categories) and is matched to the customer by address; an SMS or a
    push names only the send (its status callback, its data payload), which the ledger ties to the
    workflow and the customer (`workflow_id` None until then)."""

    message_key: str
    address: str
    workflow_id: str | None
    delivered_on: dt.date
    channel: str = "email"
    send_id: str | None = None


def _uniform(*parts: object) -> float:
    """A reproducible uniform draw in [0, 1) keyed by its parts (no shared RNG state)."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def delivered_messages_from_emulator(emulator_url: str) -> list[DeliveredMessage]:
    """Read the emulator's record of delivered emails, SMS and push messages (its introspection API)."""
    found: list[DeliveredMessage] = []
    for channel in ("email", "sms", "push"):
        response = httpx.get(f"{emulator_url}/_emulator/messages", params={"channel": channel}, timeout=60)
        response.raise_for_status()
        found += _delivered(response.json(), channel)
    return found


def _delivered(records: Iterable[Mapping[str, Any]], channel: str) -> list[DeliveredMessage]:
    found = []
    for record in records:
        if not record.get("delivered"):
            continue
        delivered_at = dt.datetime.fromtimestamp(int(record["events"]["delivered"]), tz=dt.UTC)
        if channel == "email":
            workflow = next((c for c in record.get("categories") or [] if c in TRUTH), None)
            if workflow is not None:
                found.append(DeliveredMessage(record["sg_message_id"], record["to"], workflow, delivered_at.date()))
        elif record.get("send_id"):
            key = record["sid"] if channel == "sms" else record["name"]
            found.append(
                DeliveredMessage(key, record["to"], None, delivered_at.date(), channel, send_id=record["send_id"])
            )
    return found


def _whose(conn: psycopg.Connection, messages: list[DeliveredMessage]) -> dict[str, tuple[int, str]]:
    """message key -> (customer, workflow): emails by address, SMS and push through their send's ledger row."""
    emails = sorted({m.address for m in messages if m.channel == "email"})
    by_email: dict[str, int] = dict(
        conn.execute("select email, customer_id from raw.customers where email = any(%s)", [emails]).fetchall()
    )
    send_ids = [m.send_id for m in messages if m.send_id]
    by_send = {
        send_id: (customer_id, workflow_id)
        for send_id, customer_id, workflow_id in conn.execute(
            "select send_id, customer_id, workflow_id from loyalty.send_ledger where send_id = any(%s)", [send_ids]
        )
    }
    whose = {}
    for message in messages:
        if message.channel == "email" and message.address in by_email and message.workflow_id:
            whose[message.message_key] = (by_email[message.address], message.workflow_id)
        elif message.send_id in by_send and by_send[message.send_id][1] in TRUTH:
            whose[message.message_key] = by_send[message.send_id]
    return whose


def react_to_messages(
    conn: psycopg.Connection, messages: Iterable[DeliveredMessage], seed: int, run_every_days: int = 1
) -> int:
    """Decide, once per exposure episode, whether the recipient is persuaded; schedule their extra order.

    A message of a workflow delivered within the workflow's episode (`episode_days` for a campaign run
    every `run_every_days` days) after the customer's last counted message of it belongs to the same
    episode and is recorded as not counted.

    Returns the number of newly persuaded customers. A persuaded order is placed 1..window days
    after delivery, priced like the customer's own average order.
    """
    messages = list(messages)
    if not messages:
        return 0
    whose = _whose(conn, messages)
    decided = {row[0] for row in conn.execute("select message_key from sim.reactions").fetchall()}
    episodes = {
        (workflow_id, customer_id): started
        for workflow_id, customer_id, started in conn.execute(
            "select workflow_id, customer_id, max(delivered_on) from sim.reactions where counted "
            "group by workflow_id, customer_id"
        ).fetchall()
    }
    reactions, orders = [], []
    for message in sorted(messages, key=lambda m: (m.delivered_on, m.message_key)):
        if message.message_key not in whose or message.message_key in decided:
            continue
        customer_id, workflow_id = whose[message.message_key]
        truth = TRUTH[workflow_id]
        started = episodes.get((workflow_id, customer_id))
        counted = started is None or (message.delivered_on - started).days > truth.episode_days(run_every_days)
        # The draws are keyed by who got which workflow's message on which day, not by the provider's
        # message id: that id depends on the order of the requests, and the campaign must not.
        exposure = (workflow_id, customer_id, message.delivered_on)
        persuaded = counted and _uniform(seed, "persuade", *exposure) < truth.persuasion_rate
        order_id = None
        if persuaded:
            lag = 1 + int(_uniform(seed, "lag", *exposure) * truth.effect_window_days)
            hour = 8 + int(_uniform(seed, "hour", *exposure) * 14)
            ordered_at = dt.datetime.combine(
                message.delivered_on + dt.timedelta(days=lag), dt.time(hour), tzinfo=dt.UTC
            )
            order_id = f"P-{workflow_id}-{message.message_key}"
            orders.append((order_id, customer_id, ordered_at))
        if counted:
            episodes[(workflow_id, customer_id)] = message.delivered_on
        reactions.append(
            (message.message_key, customer_id, workflow_id, message.delivered_on, persuaded, order_id, counted)
        )
        decided.add(message.message_key)
    with conn.cursor() as cur:
        cur.executemany(
            "insert into sim.reactions (message_key, customer_id, workflow_id, delivered_on, persuaded, order_id, "
            "counted) values (%s, %s, %s, %s, %s, %s, %s) on conflict do nothing",
            reactions,
        )
        cur.executemany(
            """
            insert into sim.scheduled_orders (order_id, customer_id, ordered_at, status, order_total)
            select %(order_id)s, %(customer_id)s, %(ordered_at)s, 'completed',
                   coalesce(round(avg(order_total), 2), 50.00)
            from sim.scheduled_orders where customer_id = %(customer_id)s
            on conflict (order_id) do nothing
            """,
            [{"order_id": o, "customer_id": c, "ordered_at": t} for o, c, t in orders],
        )
    return len(orders)
