"""eligible_cart_abandonment on a hand-made world: which carts count as abandoned right now.

The view reads the app's events as of now() (the hourly DAG's clock), so the events here are placed
relative to the database's clock; the customer features come from a daily build for today."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from loyalty.dbt import run_dbt

pytestmark = pytest.mark.integration

CUSTOMERS = {
    1: "abandoned 40 minutes ago",
    2: "ordered after adding to the cart",
    3: "added 10 minutes ago: still shopping",
    4: "added, then removed everything",
    5: "the shop reported cart_abandoned 5 minutes after the add",
    6: "last touched 30 hours ago: too old to chase",
    7: "no consent on any channel",
    8: "ordered two days ago, then a new cart of two changes",
}
# (event id, customer, type, minutes ago, product, quantity, unit price)
EVENTS = [
    ("e1", 1, "product_viewed", 50, 10, None, None),
    ("e2", 1, "added_to_cart", 40, 10, 2, 12.50),
    ("e3", 2, "added_to_cart", 40, 10, 1, 12.50),
    ("e4", 3, "added_to_cart", 10, 11, 1, 8.00),
    ("e5", 4, "added_to_cart", 50, 10, 1, 12.50),
    ("e6", 4, "removed_from_cart", 45, 10, 1, None),
    ("e7", 5, "added_to_cart", 10, 11, 3, 8.00),
    ("e8", 5, "cart_abandoned", 5, None, None, None),
    ("e9", 6, "added_to_cart", 30 * 60, 10, 1, 12.50),
    ("e10", 7, "added_to_cart", 40, 10, 1, 12.50),
    ("e11", 8, "added_to_cart", 3 * 24 * 60, 11, 5, 8.00),  # before the order: that cart was checked out
    ("e12", 8, "added_to_cart", 120, 11, 1, 8.00),
    ("e13", 8, "added_to_cart", 90, 10, 1, 12.50),
]


@pytest.fixture
def cart_world(dbt_warehouse: str) -> str:
    with psycopg.connect(dbt_warehouse) as conn:
        for customer_id in CUSTOMERS:
            conn.execute(
                """insert into raw.customers (customer_id, email, first_name, locale, timezone, signup_at,
                       email_consent)
                   values (%s, %s, 'Ana', 'en-US', 'UTC', now() - interval '90 days', %s)""",
                [customer_id, f"c{customer_id}@example.com", customer_id != 7],
            )
        conn.execute("insert into raw.products values (10, 'Mug', 'kitchen', 12.50), (11, 'Tea', 'food', 8.00)")
        conn.execute(
            """insert into raw.orders (order_id, customer_id, ordered_at, status, order_total) values
               ('o2', 2, now() - interval '20 minutes', 'completed', 12.50),
               ('o8', 8, now() - interval '2 days', 'completed', 40.00)"""
        )
        for event_id, customer_id, event_type, minutes_ago, product_id, quantity, unit_price in EVENTS:
            conn.execute(
                """insert into raw.app_events (event_id, customer_id, event_type, occurred_at, product_id,
                       quantity, unit_price)
                   values (%s, %s, %s, now() - make_interval(mins => %s), %s, %s, %s)""",
                [event_id, customer_id, event_type, minutes_ago, product_id, quantity, unit_price],
            )
    today = dt.datetime.now(dt.UTC).date()
    build = ["build", "--indirect-selection", "cautious", "--select", "+eligible_cart_abandonment"]
    run_dbt(build, dbt_warehouse, run_date=today)
    return dbt_warehouse


def test_abandoned_carts_right_now(cart_world: str) -> None:
    """Customers 1, 5 and 8 have abandoned carts; each other customer is out for the reason named above."""
    with psycopg.connect(cart_world) as conn:
        rows = conn.execute(
            """select customer_id, run_date = (now() at time zone 'UTC')::date, cycle_key, open_cart_items,
                      open_cart_value, last_added_product_name
               from marts.eligible_cart_abandonment order by customer_id"""
        ).fetchall()
    assert [row[0] for row in rows] == [1, 5, 8], {c: CUSTOMERS[c] for c in CUSTOMERS if c not in (1, 5, 8)}
    by_customer = {row[0]: row[1:] for row in rows}
    assert by_customer[1] == (True, "e2", 2, 25.00, "Mug")
    assert by_customer[5] == (True, "e7", 3, 24.00, "Tea")
    # The cart since the last order: the checked-out add (e11) is not in it.
    assert by_customer[8] == (True, "e12", 2, 20.50, "Mug")


def test_abandonment_time(cart_world: str) -> None:
    """Abandoned 30 minutes after the last change, or when the shop said so."""
    with psycopg.connect(cart_world) as conn:
        minutes = dict(
            conn.execute(
                """select customer_id, round(extract(epoch from now() - abandoned_at) / 60)
                   from marts.eligible_cart_abandonment"""
            ).fetchall()
        )
    assert minutes == {1: 10, 5: 5, 8: 60}
