"""Incremental models pick up new and late-arriving rows within the `late_arriving_days` window,
miss rows delivered later than that (a documented limit) until a full refresh, and reprocessing is
idempotent."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import run_dbt

pytestmark = pytest.mark.integration

SMALL_WORLD = Path(__file__).with_name("small_world.sql")
DAY_1 = dt.date(2026, 6, 1)
DAY_2 = dt.date(2026, 6, 2)
FACTS = ["build", "--indirect-selection", "cautious", "--select", "+fct_orders", "+fct_order_lines", "+dim_customers"]


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


def _order_ids(url: str) -> set[str]:
    return {row[0] for row in _rows(url, "select order_id from marts.fct_orders")}


class TestLateArrivingData:
    def test_new_day_and_late_rows_within_the_window_are_picked_up(self, dbt_warehouse: str) -> None:
        """Day 2's load brings a new order, an order placed 5 days earlier that arrived late, and a
        correction of an existing order: the incremental run takes all three, without duplicates."""
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute(SMALL_WORLD.read_text())
            conn.execute("update raw.orders set loaded_at = '2026-06-01 23:00+00'")
            conn.execute("update raw.order_lines set loaded_at = '2026-06-01 23:00+00'")
        run_dbt(FACTS, dbt_warehouse, run_date=DAY_1)
        lines_before = _rows(dbt_warehouse, "select count(*) from marts.fct_order_lines")[0][0]
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute(
                """insert into raw.orders (order_id, customer_id, ordered_at, status, order_total, loaded_at) values
                   ('new_day', 2, '2026-06-02 09:00+00', 'completed', 10, '2026-06-02 23:00+00'),
                   ('late', 2, '2026-05-28 09:00+00', 'completed', 10, '2026-06-02 23:00+00')"""
            )
            conn.execute(
                """insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price, loaded_at)
                   values ('late-1', 'late', 10, 1, 10, '2026-06-02 23:00+00')"""
            )
            conn.execute(
                "update raw.orders set status = 'refunded', loaded_at = '2026-06-02 23:00+00' where order_id = 'o4'"
            )
        run_dbt(FACTS, dbt_warehouse, run_date=DAY_2)
        assert {"new_day", "late"} <= _order_ids(dbt_warehouse)
        assert _rows(dbt_warehouse, "select status from marts.fct_orders where order_id = 'o4'") == [("refunded",)]
        assert _rows(dbt_warehouse, "select count(*) from marts.fct_order_lines")[0][0] == lines_before + 1
        # 14 + 2 raw orders, no duplicates; o8 and o12 were placed after the load time set above (future).
        assert _rows(dbt_warehouse, "select count(*), count(distinct order_id) from marts.fct_orders")[0] == (14, 14)
        # Customer 2: o4 refunded, so the day-2 features count only 'late' and 'new_day'.
        assert _rows(
            dbt_warehouse,
            """select order_count, last_order_date from marts.dim_customers
               where customer_id = 2 and run_date = '2026-06-02'""",
        ) == [(2, DAY_2)]

    def test_rows_later_than_the_window_need_a_full_refresh(self, dbt_warehouse: str) -> None:
        """A row whose loaded_at is older than the newest row minus late_arriving_days (3) is missed by
        the incremental run and picked up by --full-refresh."""
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute(SMALL_WORLD.read_text())
            conn.execute("update raw.orders set loaded_at = '2026-06-01 23:00+00'")
        run_dbt(FACTS, dbt_warehouse, run_date=DAY_1)
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute(
                """insert into raw.orders (order_id, customer_id, ordered_at, status, order_total, loaded_at) values
                   ('backdated', 2, '2026-05-20 09:00+00', 'completed', 10, '2026-05-25 00:00+00')"""
            )
        run_dbt(FACTS, dbt_warehouse, run_date=DAY_2)
        assert "backdated" not in _order_ids(dbt_warehouse)
        run_dbt([*FACTS, "--full-refresh"], dbt_warehouse, run_date=DAY_2)
        assert "backdated" in _order_ids(dbt_warehouse)

    def test_rows_deleted_from_raw_are_deleted_downstream(self, dbt_warehouse: str) -> None:
        """An order erased from raw (and its lines) disappears from the facts on the next incremental run."""
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute(SMALL_WORLD.read_text())
        run_dbt(FACTS, dbt_warehouse, run_date=DAY_1)
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute("delete from raw.order_lines where order_id = 'o1'")
            conn.execute("delete from raw.orders where order_id = 'o1'")
        run_dbt(FACTS, dbt_warehouse, run_date=DAY_1)
        assert "o1" not in _order_ids(dbt_warehouse)
        assert _rows(dbt_warehouse, "select count(*) from marts.fct_order_lines where order_id = 'o1'") == [(0,)]


class TestNewColumns:
    def test_a_dim_customers_built_before_push_token_gets_it(self, dbt_warehouse: str) -> None:
        """A warehouse whose dim_customers predates push_token (dropped here to stand for it): the next run
        appends the column (on_schema_change), last as in a new table, and fills it for the run date it
        builds; the slice built before keeps a null."""
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute(SMALL_WORLD.read_text())
            conn.execute("update raw.customers set push_consent = true, push_token = 'fcm-7' where customer_id = 7")
        dim_customers = ["build", "--indirect-selection", "cautious", "--select", "+dim_customers"]
        run_dbt(dim_customers, dbt_warehouse, run_date=DAY_1)
        with psycopg.connect(dbt_warehouse) as conn:
            conn.execute("alter table marts.dim_customers drop column push_token cascade")
        run_dbt(dim_customers, dbt_warehouse, run_date=DAY_2)
        assert _rows(
            dbt_warehouse,
            """select run_date, push_token, is_push_contactable from marts.dim_customers
               where customer_id = 7 order by run_date""",
        ) == [(DAY_1, None, True), (DAY_2, "fcm-7", True)]
        (last_column,) = _rows(
            dbt_warehouse,
            """select column_name from information_schema.columns
               where table_schema = 'marts' and table_name = 'dim_customers' order by ordinal_position desc limit 1""",
        )
        assert last_column == ("push_token",)
