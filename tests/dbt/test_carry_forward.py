"""Customer features carried forward day by day (incremental int_customer_orders_aggregated and
int_customer_favourite_categories, macros/carry_forward.sql) equal a full refresh as of the same run
date: two warehouses receive the same loads every night; one builds incrementally, the other with
--full-refresh, and every feature table must match row for row, also after going back to a past day
and forward again."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator

import psycopg
import pytest

from loyalty import warehouse
from loyalty.dbt import run_dbt

pytestmark = pytest.mark.integration

FIRST_DAY = dt.date(2026, 6, 1)
DAYS = [FIRST_DAY + dt.timedelta(days=offset) for offset in range(5)]
BUILD = ["run", "--select", "+customer_segments"]
CATEGORIES = ("books", "toys", "pets")
# Bookkeeping of the carry-forward (when a row was last recomputed) legitimately differs.
COMPARED = {
    "intermediate.int_customer_orders_aggregated": "customer_id",
    "intermediate.int_customer_favourite_categories": "customer_id",
}
BOOKKEEPING = {"computed_for_run_date", "inputs_loaded_through"}


def _night(day: dt.date) -> dt.datetime:
    """Rows of `day` are loaded the night after it."""
    return dt.datetime.combine(day + dt.timedelta(days=1), dt.time(1), tzinfo=dt.UTC)


class World:
    """A deterministic shop: 40 customers with two years of orders, some placed exactly 90 and 365
    days before the test days (so they leave a trailing window during the test)."""

    def __init__(self) -> None:
        rng = random.Random(4)
        self.customers: list[tuple] = []
        self.orders: list[tuple] = []
        self.lines: list[tuple] = []
        for customer_id in range(1, 41):
            signup = dt.datetime(2024, 6, 1, 9, tzinfo=dt.UTC) + dt.timedelta(days=rng.randrange(700))
            self.customers.append((customer_id, signup))
            for _ in range(rng.randrange(0, 6)):
                self._order(rng, customer_id, signup + dt.timedelta(days=rng.randrange(0, 730)))
        # Orders leaving the 90- and 365-day windows on the test days, and one placed on each test day.
        for offset, day in enumerate(DAYS):
            morning = dt.datetime.combine(day, dt.time(8), tzinfo=dt.UTC)
            for window in (90, 365):
                self._order(rng, 1 + offset * 7, morning - dt.timedelta(days=window))
            self._order(rng, 2 + offset * 5, dt.datetime.combine(day, dt.time(15), tzinfo=dt.UTC))

    def _order(self, rng: random.Random, customer_id: int, ordered_at: dt.datetime) -> None:
        order_id = f"o{len(self.orders) + 1}"
        total = 0
        for _ in range(rng.randrange(1, 4)):
            product_id, quantity = rng.randrange(1, 4), rng.randrange(1, 4)
            total += quantity * 10 * product_id
            self.lines.append((f"l{len(self.lines) + 1}", order_id, product_id, quantity, 10 * product_id, ordered_at))
        self.orders.append((order_id, customer_id, ordered_at, "completed", total))

    def load(self, url: str, day: dt.date) -> None:
        """The night load of `day`: everything that happened on it. The first night also loads the history,
        each row stamped as loaded the night after it happened (as a daily loader would have)."""

        def due(happened_at: dt.datetime) -> bool:
            return happened_at.date() == day or (day == DAYS[0] and happened_at.date() < day)

        with psycopg.connect(url) as conn:
            if day == DAYS[0]:
                conn.cursor().executemany(
                    "insert into raw.products values (%s, %s, %s, %s, %s)",
                    [(pid, f"p{pid}", CATEGORIES[pid - 1], 10 * pid, _night(dt.date(2024, 1, 1))) for pid in (1, 2, 3)],
                )
            conn.cursor().executemany(
                "insert into raw.customers (customer_id, email, signup_at, email_consent, loaded_at)"
                " values (%s, %s, %s, true, %s)",
                [(cid, f"c{cid}@example.com", at, _night(at.date())) for cid, at in self.customers if due(at)],
            )
            conn.cursor().executemany(
                "insert into raw.orders values (%s, %s, %s, %s, %s, %s)",
                [(*order, _night(order[2].date())) for order in self.orders if due(order[2])],
            )
            conn.cursor().executemany(
                "insert into raw.order_lines values (%s, %s, %s, %s, %s, %s)",
                [(*line[:5], _night(line[5].date())) for line in self.lines if due(line[5])],
            )


def _late_and_corrected_rows(url: str, day: dt.date) -> None:
    """What the nights bring besides the day's own rows: a late order, a refund, a customer landing
    after their orders, a line of an old order, a customer's only order refunded."""
    night = _night(day)
    with psycopg.connect(url) as conn:
        if day == DAYS[1]:
            conn.execute(
                "insert into raw.orders values ('late', 3, %s, 'completed', 30, %s)",
                (dt.datetime.combine(day - dt.timedelta(days=2), dt.time(10), tzinfo=dt.UTC), night),
            )
            conn.execute("insert into raw.order_lines values ('late-1', 'late', 2, 3, 10, %s)", (night,))
            # Customer 41's order lands before the customer: quarantined (unknown_customer) until day 3.
            conn.execute(
                "insert into raw.orders values ('early', 41, %s, 'completed', 90, %s)",
                (dt.datetime.combine(day, dt.time(11), tzinfo=dt.UTC), night),
            )
            conn.execute("insert into raw.order_lines values ('early-1', 'early', 3, 3, 30, %s)", (night,))
        if day == DAYS[2]:
            conn.execute(
                "update raw.orders set status = 'refunded', loaded_at = %s"
                " where order_id = (select min(order_id) from raw.orders where customer_id = 5)",
                (night,),
            )
            conn.execute(
                "insert into raw.customers (customer_id, email, signup_at, email_consent, loaded_at)"
                " values (41, 'c41@example.com', '2026-01-01 09:00+00', true, %s)",
                (night,),
            )
        if day == DAYS[3]:
            conn.execute(
                "insert into raw.order_lines select 'late-line', min(order_id), 1, 9, 10, %s"
                " from raw.orders where customer_id = 7",
                (night,),
            )
            conn.execute("update raw.orders set status = 'refunded', loaded_at = %s where order_id = 'late'", (night,))
        if day == DAYS[4]:
            # Customer 41's only order is refunded: they drop out of the order features.
            conn.execute("update raw.orders set status = 'refunded', loaded_at = %s where order_id = 'early'", (night,))


def _features(url: str, run_date: dt.date) -> dict[str, list[tuple]]:
    features = {}
    with psycopg.connect(url) as conn:
        for table, key in COMPARED.items():
            columns = [
                row[0]
                for row in conn.execute(
                    "select column_name from information_schema.columns"
                    " where table_schema || '.' || table_name = %s order by ordinal_position",
                    (table,),
                )
                if row[0] not in BOOKKEEPING
            ]
            features[table] = conn.execute(f"select {', '.join(columns)} from {table} order by {key}").fetchall()
        for table in ("marts.dim_customers", "marts.customer_segments"):
            features[table] = conn.execute(
                f"select * from {table} where run_date = %s order by customer_id", (run_date,)
            ).fetchall()
    return features


def _recomputed(url: str, run_date: dt.date) -> tuple[int, int]:
    """(buyers, buyers recomputed by the build of run_date) in the order features."""
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select count(*), count(*) filter (where computed_for_run_date = %s)"
            " from intermediate.int_customer_orders_aggregated",
            (run_date,),
        ).fetchone()


@pytest.fixture
def reference_warehouse(dbt_warehouse: str) -> Iterator[str]:
    """A second database on the same server, for the full-refresh builds."""
    params = warehouse.connection_params(dbt_warehouse)
    name = f"{params['dbname']}_reference"
    with psycopg.connect(dbt_warehouse, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    url = warehouse.url_from_connection_fields(params["host"], params["port"], params["user"], params["password"], name)
    warehouse.init_schema(url)
    yield url
    with psycopg.connect(dbt_warehouse, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')


class TestCarryForward:
    def test_day_by_day_equals_a_full_refresh(self, dbt_warehouse: str, reference_warehouse: str) -> None:
        """Five nights of loads (late orders, refunds, a customer landing late, a late line, orders
        leaving the 90- and 365-day windows), then going back two days and forward again: after every
        build the carried-forward features equal a full refresh as of the same run date."""
        world = World()
        for url in (dbt_warehouse, reference_warehouse):
            run_dbt(["seed"], url)
        checked = []
        recomputed_per_day = []
        for day in DAYS:
            for url in (dbt_warehouse, reference_warehouse):
                world.load(url, day)
                _late_and_corrected_rows(url, day)
            run_dbt(BUILD, dbt_warehouse, run_date=day)
            run_dbt([*BUILD, "--full-refresh"], reference_warehouse, run_date=day)
            checked.append(day)
            if day > DAYS[0]:
                recomputed_per_day.append(_recomputed(dbt_warehouse, day))
            incremental, full = _features(dbt_warehouse, day), _features(reference_warehouse, day)
            for table, rows in full.items():
                assert incremental[table] == rows, f"{table} differs on {day}"
        # Going back (a past day recomputes identically), then forward to the last day again.
        for day in (DAYS[2], DAYS[-1]):
            run_dbt(BUILD, dbt_warehouse, run_date=day)
            run_dbt([*BUILD, "--full-refresh"], reference_warehouse, run_date=day)
            incremental, full = _features(dbt_warehouse, day), _features(reference_warehouse, day)
            for table, rows in full.items():
                assert incremental[table] == rows, f"{table} differs on {day} (after going back)"
        assert checked == DAYS
        # The comparison is not vacuous: most customers have order features, and on a day of the
        # incremental run only some of them were recomputed (the rest carried forward).
        assert len(recomputed_per_day) == len(DAYS) - 1
        for buyers, recomputed in recomputed_per_day:
            assert buyers > 25
            assert 0 < recomputed < buyers / 2
