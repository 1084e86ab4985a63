"""The data tests of the staging views and the data contract check, on a daily build, only the rows
loaded since the previous build (minus `late_arriving_days`): a key loaded today that duplicates an
old row still fails the build (unique_where_recent counts each recent key over every row), a
duplicate of two rows older than the window is left to `--full-refresh`, which checks every row."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import DbtError, run_dbt

pytestmark = pytest.mark.integration

SMALL_WORLD = Path(__file__).with_name("small_world.sql")
DAY_1 = dt.date(2026, 6, 1)
DAY_2 = dt.date(2026, 6, 2)
FACTS = ["build", "--indirect-selection", "cautious", "--select", "+fct_orders", "+fct_order_lines", "+dim_customers"]
KEY_TEST = "unique_where_recent_stg_shop__order_lines_order_line_id"


@pytest.fixture
def world_without_line_key(dbt_warehouse: str) -> Iterator[str]:
    """The small world loaded on the night of day 1 and built; raw.order_lines' primary key is dropped
    (as on a warehouse that does not enforce keys) so a duplicate line can be delivered, and restored
    afterwards."""
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
        for table in ("raw.customers", "raw.orders", "raw.order_lines"):
            conn.execute(f"update {table} set loaded_at = '2026-06-01 23:00+00'")
    run_dbt(FACTS, dbt_warehouse, run_date=DAY_1)
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute("alter table raw.order_lines drop constraint order_lines_pkey")
    yield dbt_warehouse
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute("delete from raw.order_lines where quantity = 99")
        conn.execute("alter table raw.order_lines add primary key (order_line_id)")


def _deliver_duplicate_of_l1(url: str, loaded_at: str) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price, loaded_at)"
            " values ('l1', 'o1', 10, 99, 12.50, %s)",
            (loaded_at,),
        )


class TestWindowedKeyTests:
    def test_a_new_row_duplicating_an_old_one_fails_the_daily_build(self, world_without_line_key: str) -> None:
        """Day 2's load repeats line l1 (loaded on day 1): the daily build's key test finds it."""
        _deliver_duplicate_of_l1(world_without_line_key, "2026-06-02 23:00+00")
        with pytest.raises(DbtError, match=KEY_TEST):
            run_dbt(FACTS, world_without_line_key, run_date=DAY_2)

    def test_old_rows_are_left_to_a_full_refresh(self, world_without_line_key: str) -> None:
        """Two rows of one key, both loaded before the window (a row delivered that late is missed by the
        incremental models too), pass the daily build; --full-refresh checks every row and fails."""
        with psycopg.connect(world_without_line_key) as conn:
            conn.execute("update raw.order_lines set loaded_at = '2026-05-01 23:00+00' where order_line_id = 'l1'")
        _deliver_duplicate_of_l1(world_without_line_key, "2026-05-01 23:00+00")
        run_dbt(FACTS, world_without_line_key, run_date=DAY_2)
        with pytest.raises(DbtError, match=KEY_TEST):
            run_dbt([*FACTS, "--full-refresh"], world_without_line_key, run_date=DAY_2)
