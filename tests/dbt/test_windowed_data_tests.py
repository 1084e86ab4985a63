"""The data tests of the staging views and the data contract check, on a daily build, only the rows
loaded since the previous build (minus `late_arriving_days`): a key loaded today that duplicates an
old row still fails the build (unique_where_recent counts each recent key over every row), a
duplicate of two rows older than the window is left to `--full-refresh`, which checks every row.
Likewise relationships_where_recent looks each recent value up among every row of its parent: a new
line of an old order passes, a new line of no order warns, an old orphan is left to `--full-refresh`."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import DbtError, run_dbt
from loyalty.paths import state_dir

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


def _failures(test_prefix: str) -> dict[str, int]:
    """{status: failures} of the last dbt invocation's test whose name starts with `test_prefix`."""
    results = json.loads((state_dir() / "dbt" / "target" / "run_results.json").read_text())["results"]
    found = [r for r in results if r["unique_id"].split(".")[2].startswith(test_prefix)]
    assert len(found) == 1, [r["unique_id"] for r in found]
    return {found[0]["status"]: found[0]["failures"]}


LINES_TO_ORDERS = "relationships_where_recent_stg_shop__order_lines_order_id"
ORDERS_TO_CUSTOMERS = "relationships_where_recent_stg_shop__orders_customer_id"


class TestWindowedRelationships:
    def test_recent_values_are_looked_up_among_every_parent_row(self, world_without_line_key: str) -> None:
        """Day 2 delivers a line of order o2 (loaded long before), a line of an order that does not exist and
        an order of an unknown customer: the daily build warns once for each orphan, not for the line of
        an old order; an orphan line loaded before the window is left to --full-refresh, which counts it."""
        with psycopg.connect(world_without_line_key) as conn:
            # o2 and customer 1 loaded long before the window: only a lookup among every row finds them.
            conn.execute("update raw.orders set loaded_at = '2026-05-01 23:00+00' where order_id = 'o2'")
            conn.execute("update raw.customers set loaded_at = '2026-05-01 23:00+00' where customer_id = 1")
            conn.execute(
                "insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price, loaded_at)"
                " values ('l-new', 'o2', 10, 99, 12.50, '2026-06-02 23:00+00'),"
                " ('l-orphan', 'o-missing', 10, 99, 12.50, '2026-06-02 23:00+00'),"
                " ('l-old-orphan', 'o-gone', 10, 99, 12.50, '2026-05-01 23:00+00')"
            )
            conn.execute(
                "insert into raw.orders (order_id, customer_id, ordered_at, status, order_total, loaded_at) values"
                " ('o-new', 1, '2026-06-02 12:00+00', 'completed', 5, '2026-06-02 23:00+00'),"
                " ('o-stranger', 99, '2026-06-02 12:00+00', 'completed', 5, '2026-06-02 23:00+00')"
            )
        run_dbt(FACTS, world_without_line_key, run_date=DAY_2)
        assert _failures(LINES_TO_ORDERS) == {"warn": 1}
        assert _failures(ORDERS_TO_CUSTOMERS) == {"warn": 1}
        run_dbt([*FACTS, "--full-refresh"], world_without_line_key, run_date=DAY_2)
        assert _failures(LINES_TO_ORDERS) == {"warn": 2}


def test_a_build_first_summarizes_the_load_indexes(dbt_warehouse: str) -> None:
    """A bulk load leaves the BRIN ranges on raw.order_lines (loaded_at) unsummarized, so every load
    window would read the whole table; any dbt invocation summarizes them first (on-run-start), leaving
    nothing for a later call to summarize."""
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
        conn.execute(
            "insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price, loaded_at) "
            "select 'bulk-' || n, 'o1', 10, 1, 1.00, '2026-01-01'::timestamptz + n * interval '1 minute' "
            "from generate_series(1, 40000) as n"
        )
    run_dbt(["run", "--select", "stg_shop__products"], dbt_warehouse, run_date=DAY_1)
    with psycopg.connect(dbt_warehouse) as conn:
        left = conn.execute("select brin_summarize_new_values('raw.order_lines_loaded_at')").fetchone()[0]
        conn.execute("delete from raw.order_lines where order_line_id like 'bulk-%'")
    assert left == 0
