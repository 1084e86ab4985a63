"""Bad input never disappears silently: raw rows that break the contract land in
marts.data_quality_quarantine with the rule they broke, stay out of the marts, and the counts add up."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import run_dbt

pytestmark = pytest.mark.integration

RUN_DATE = dt.date(2026, 6, 1)
SMALL_WORLD = Path(__file__).with_name("small_world.sql")

# (source table, row key, rule, scope): one of each way a row can break the contract.
BAD_ROWS_SQL = """
insert into raw.customers (customer_id, email, phone, first_name, signup_at, email_consent, loaded_at) values
 (101, 'not-an-email', '+15550000101', 'Mal', '2026-01-01 10:00+00', true, '2026-05-01 00:00+00'),
 (102, 'ok102@example.com', '555-0102', 'Pho', '2026-01-01 10:00+00', true, '2026-05-01 00:00+00'),
 (103, 'future@example.com', null, 'Fut', '2026-07-01 10:00+00', true, '2026-05-01 00:00+00');
insert into raw.customers
 (customer_id, email, first_name, signup_at, email_consent, push_consent, push_token, loaded_at) values
 (104, 'ok104@example.com', 'Tok', '2026-01-01 10:00+00', true, true, repeat('x', 4097), '2026-05-01 00:00+00');
insert into raw.orders (order_id, customer_id, ordered_at, status, order_total, loaded_at) values
 ('bad_null_customer', null, '2026-05-01 10:00+00', 'completed', 10, '2026-05-02 00:00+00'),
 ('bad_unknown_customer', 999, '2026-05-01 10:00+00', 'completed', 10, '2026-05-02 00:00+00'),
 ('bad_future', 2, '2026-05-20 10:00+00', 'completed', 10, '2026-05-19 00:00+00'),
 ('bad_negative_total', 2, '2026-05-01 10:00+00', 'completed', -5, '2026-05-02 00:00+00'),
 ('bad_customer_quarantined', 103, '2026-05-01 10:00+00', 'completed', 10, '2026-05-02 00:00+00'),
 ('ok_malformed_email', 101, '2026-05-01 10:00+00', 'completed', 10, '2026-05-02 00:00+00');
insert into raw.order_lines (order_line_id, order_id, product_id, quantity, unit_price) values
 ('bad_negative_quantity', 'o4', 10, -1, 12.50),
 ('bad_null_order', null, 10, 1, 12.50),
 ('bad_unknown_order', 'nope', 10, 1, 12.50),
 ('bad_unknown_product', 'o4', 999, 1, 12.50),
 ('bad_order_quarantined', 'bad_negative_total', 10, 1, 12.50);
insert into raw.quarantine (source_table, rule, row_data) values
 ('raw.customers', 'null_customer_id', '{"customer_id": null, "email": "x@example.com"}');
"""

EXPECTED = {
    ("raw.customers", "101", "malformed_email", "value"),
    ("raw.customers", "102", "malformed_phone", "value"),
    ("raw.customers", "103", "future_timestamp", "row"),
    ("raw.customers", "104", "malformed_push_token", "value"),
    ("raw.orders", "bad_null_customer", "null_customer_id", "row"),
    ("raw.orders", "bad_unknown_customer", "unknown_customer", "row"),
    ("raw.orders", "bad_future", "future_timestamp", "row"),
    ("raw.orders", "bad_negative_total", "negative_order_total", "row"),
    ("raw.orders", "bad_customer_quarantined", "customer_quarantined", "row"),
    ("raw.order_lines", "bad_negative_quantity", "non_positive_quantity", "row"),
    ("raw.order_lines", "bad_null_order", "null_order_id", "row"),
    ("raw.order_lines", "bad_unknown_order", "unknown_order", "row"),
    ("raw.order_lines", "bad_unknown_product", "unknown_product", "row"),
    ("raw.order_lines", "bad_order_quarantined", "order_quarantined", "row"),
}


def _rows(url: str, query: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchall()


@pytest.fixture
def bad_world(dbt_warehouse: str) -> Iterator[str]:
    """The small world plus one bad row per rule. raw.orders.customer_id and raw.order_lines.order_id
    are NOT NULL in this warehouse (the loader's first line of defence); the constraints are dropped
    for the test, as on a warehouse that does not enforce them, and restored afterwards."""
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute(SMALL_WORLD.read_text())
        conn.execute("alter table raw.orders alter column customer_id drop not null")
        conn.execute("alter table raw.order_lines alter column order_id drop not null")
        conn.execute(BAD_ROWS_SQL)
    yield dbt_warehouse
    with psycopg.connect(dbt_warehouse) as conn:
        conn.execute("delete from raw.orders where customer_id is null")
        conn.execute("delete from raw.order_lines where order_id is null")
        conn.execute("alter table raw.orders alter column customer_id set not null")
        conn.execute("alter table raw.order_lines alter column order_id set not null")


class TestQuarantine:
    def test_each_bad_row_is_quarantined_with_its_rule(self, bad_world: str) -> None:
        """Every bad row is in the quarantine with the rule it broke; loader rejections are there too."""
        run_dbt(["build"], bad_world, run_date=RUN_DATE)
        found = set(
            _rows(
                bad_world,
                """select source_table, row_key, quarantine_rule, quarantine_scope
                   from marts.data_quality_quarantine where quarantine_scope in ('row', 'value')""",
            )
        )
        assert found == EXPECTED
        assert _rows(
            bad_world,
            "select source_table, quarantine_rule from marts.data_quality_quarantine where quarantine_scope = 'loader'",
        ) == [("raw.customers", "null_customer_id")]

    def test_bad_rows_stay_out_of_the_marts_and_the_counts_add_up(self, bad_world: str) -> None:
        """Row-level breaks are absent from the marts, value-level breaks keep the customer without the
        value, and valid + quarantined rows = raw rows for every table."""
        run_dbt(["build"], bad_world, run_date=RUN_DATE)
        assert _rows(bad_world, "select count(*) from marts.fct_orders where order_id like 'bad%'") == [(0,)]
        assert _rows(bad_world, "select count(*) from marts.fct_order_lines where order_line_id like 'bad%'") == [(0,)]
        assert _rows(
            bad_world,
            "select customer_id, email, phone from marts.dim_customers where customer_id in (101, 102, 103) order by 1",
        ) == [(101, None, "+15550000101"), (102, "ok102@example.com", None)]
        # A push token over push_token_max_length is no address: no push, the customer stays.
        assert _rows(
            bad_world, "select email, push_token, is_push_contactable from marts.dim_customers where customer_id = 104"
        ) == [("ok104@example.com", None, False)]
        # Customer 101 keeps its order (lifetime revenue counts it) but gets no email.
        assert _rows(bad_world, "select order_count from marts.dim_customers where customer_id = 101") == [(1,)]
        for table, mart in (("raw.orders", "marts.fct_orders"), ("raw.order_lines", "marts.fct_order_lines")):
            raw = _rows(bad_world, f"select count(*) from {table}")[0][0]
            valid = _rows(bad_world, f"select count(*) from {mart}")[0][0]
            quarantined = _rows(
                bad_world,
                f"""select count(*) from marts.data_quality_quarantine
                    where source_table = '{table}' and quarantine_scope = 'row'""",
            )[0][0]
            assert valid + quarantined == raw, table
        # Every raw customer is a mart row, a quarantined row, or not known yet on the run date.
        assert (
            _rows(
                bad_world,
                """select customer_id from raw.customers
               where customer_id not in (select customer_id from marts.dim_customers where run_date = '2026-06-01')
                 and cast(customer_id as text) not in (
                     select row_key from marts.data_quality_quarantine
                     where source_table = 'raw.customers' and quarantine_scope = 'row')
                 and signup_at < '2026-06-02'""",
            )
            == []
        )

    def test_a_quarantined_order_is_released_when_its_customer_arrives(self, bad_world: str) -> None:
        """Incremental runs re-check quarantined rows: an order that came before its customer is released."""
        run_dbt(["build", "--indirect-selection", "cautious", "--select", "+fct_orders"], bad_world, run_date=RUN_DATE)
        with psycopg.connect(bad_world) as conn:
            conn.execute(
                """insert into raw.customers (customer_id, email, first_name, signup_at, email_consent, loaded_at)
                   values (999, 'late@example.com', 'Late', '2026-01-01 10:00+00', true, '2026-05-01 00:00+00')"""
            )
        run_dbt(["build", "--indirect-selection", "cautious", "--select", "+fct_orders"], bad_world, run_date=RUN_DATE)
        assert _rows(bad_world, "select customer_id from marts.fct_orders where order_id = 'bad_unknown_customer'") == [
            (999,)
        ]
