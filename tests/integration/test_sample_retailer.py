"""The sample retailer of examples/retailer/, loaded with its mapping, against expected_counts.json."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest

from loyalty.dbt import run_dbt
from loyalty.loader import load
from loyalty.loader.entities import APP_EVENT_TYPES
from loyalty.warehouse import drop_dbt_schemas

pytestmark = pytest.mark.integration

SAMPLE = Path(__file__).resolve().parents[2] / "examples" / "retailer"
MAPPING = SAMPLE / "mapping.yml"
EXPECTED = json.loads((SAMPLE / "expected_counts.json").read_text())
TABLES = {
    "customers": "customer_id",
    "products": "product_id",
    "orders": "order_id",
    "order_lines": "order_line_id",
    "app_events": "event_id",
}


def _contents(url: str) -> dict[str, tuple[int, str]]:
    """Per raw table and for raw.quarantine: (rows, a fingerprint of every row, loaded_at included)."""
    found = {}
    with psycopg.connect(url) as conn:
        for table, key in [*TABLES.items(), ("quarantine", "quarantine_id")]:
            found[table] = conn.execute(
                f"select count(*), coalesce(md5(string_agg(t::text, '|' order by {key})), '') from raw.{table} as t"
            ).fetchone()
    return found


class TestSampleRetailer:
    def test_first_load_matches_the_expected_counts(self, clean_warehouse: str) -> None:
        """Every entity reads, loads and quarantines (by reason) exactly what expected_counts.json says,
        and the raw tables and raw.quarantine hold those rows."""
        report = load(MAPPING, url=clean_warehouse)

        by_entity = {summary.entity: summary for summary in report.sources}
        assert sorted(by_entity) == sorted(EXPECTED["entities"]) == sorted(TABLES)
        for entity, expected in EXPECTED["entities"].items():
            assert expected["rows_read"] == expected["rows_loaded"] + expected["rows_quarantined"], entity
            assert expected["rows_quarantined"] == sum(expected["quarantined_by_reason"].values()), entity
            summary = by_entity[entity]
            assert expected["source"] in str(summary.source), entity
            assert (
                summary.rows_read,
                summary.rows_loaded,
                summary.rows_quarantined,
                dict(summary.quarantined_by_reason),
                summary.already_loaded,
            ) == (
                expected["rows_read"],
                expected["rows_loaded"],
                expected["rows_quarantined"],
                expected["quarantined_by_reason"],
                False,
            ), entity

        contents = _contents(clean_warehouse)
        for entity, expected in EXPECTED["entities"].items():
            assert contents[entity][0] == expected["rows_loaded"], entity
        assert contents["quarantine"][0] == sum(e["rows_quarantined"] for e in EXPECTED["entities"].values())

    def test_every_bad_row_is_quarantined_with_its_file_line_column_and_reason(self, clean_warehouse: str) -> None:
        """raw.quarantine holds exactly the deliberately bad rows of examples/retailer/README.md: each at its
        file and line, with the source column that broke (none for a malformed line) and the reason."""
        load(MAPPING, url=clean_warehouse)

        with psycopg.connect(clean_warehouse) as conn:
            found = conn.execute(
                "select source_table, source_file, source_line, source_column, rule from raw.quarantine"
            ).fetchall()
        quarantined = sorted((table, Path(file).name, line, column, rule) for table, file, line, column, rule in found)
        expected = sorted(
            (f"raw.{row['entity']}", row["file"], row["line"], row["column"], row["reason"])
            for row in EXPECTED["bad_rows"]
        )
        assert quarantined == expected

    def test_a_second_load_changes_nothing(self, clean_warehouse: str) -> None:
        """Loading the same files again loads nothing new, quarantines nothing twice and leaves every
        raw row (loaded_at included) as it was."""
        load(MAPPING, url=clean_warehouse)
        before = _contents(clean_warehouse)

        again = load(MAPPING, url=clean_warehouse)

        assert _contents(clean_warehouse) == before
        assert sorted(summary.entity for summary in again.sources) == sorted(EXPECTED["entities"])
        for summary in again.sources:
            assert summary.already_loaded, summary.entity
            assert (summary.rows_loaded, summary.rows_quarantined) == (0, 0), summary.entity

    def test_the_shops_order_statuses_are_translated_to_ours(self, clean_warehouse: str) -> None:
        """The mapping's `values` turn Shopify's financial statuses into ours: paid and partially refunded
        orders are `completed` (what the warehouse counts as a purchase), the others keep their word."""
        load(MAPPING, url=clean_warehouse)
        with psycopg.connect(clean_warehouse) as conn:
            statuses = dict(conn.execute("select status, count(*) from raw.orders group by status").fetchall())
        assert set(statuses) == {"completed", "refunded", "pending"}
        assert statuses["completed"] > statuses["refunded"] + statuses["pending"]

    def test_the_apps_event_names_are_translated_to_ours(self, clean_warehouse: str) -> None:
        """The mapping's `values` turn the tracking plan's event names (`Product Added`) into our event types:
        every type is loaded, and a name the mapping does not list is quarantined as an unknown event type,
        its row shown as the source wrote it (the `event` column, the app's own name)."""
        load(MAPPING, url=clean_warehouse)
        with psycopg.connect(clean_warehouse) as conn:
            types = dict(conn.execute("select event_type, count(*) from raw.app_events group by 1").fetchall())
            unknown = conn.execute(
                "select distinct row_data ->> 'event' from raw.quarantine where rule = 'unknown_event_type'"
            ).fetchall()
        assert set(types) == set(APP_EVENT_TYPES)
        assert types["product_viewed"] > types["added_to_cart"] > types["removed_from_cart"]
        assert unknown == [("Product Added to Wishlist",)]

    def test_app_events_fit_the_shops_customers_products_and_orders(self, clean_warehouse: str) -> None:
        """The events are the sample's own customers' behaviour: their products at the catalogue's price, survey
        answers about their own orders, and carts abandoned with no order of that customer after."""
        load(MAPPING, url=clean_warehouse)
        with psycopg.connect(clean_warehouse) as conn:
            unknown_products, wrong_prices = conn.execute(
                """select count(*) filter (where products.product_id is null),
                          count(*) filter (where events.unit_price <> products.unit_price)
                   from raw.app_events as events
                   left join raw.products as products on products.product_id = events.product_id
                   where events.product_id is not null"""
            ).fetchone()
            surveys, about_own_orders = conn.execute(
                """select count(*), count(orders.order_id)
                   from raw.app_events as events
                   left join raw.orders as orders
                       on orders.order_id = events.order_id and orders.customer_id = events.customer_id
                   where events.event_type in ('nps_answered', 'csat_answered')"""
            ).fetchone()
            abandoned, bought_after = conn.execute(
                """select count(*), count(*) filter (where exists (
                       select from raw.orders as orders
                       where orders.customer_id = events.customer_id and orders.ordered_at > events.occurred_at))
                   from raw.app_events as events
                   where events.event_type = 'cart_abandoned'"""
            ).fetchone()
            scores = conn.execute(
                "select min(score), max(score) from raw.app_events where event_type = 'nps_answered'"
            ).fetchone()
        assert (unknown_products, wrong_prices) == (0, 0)
        assert surveys == about_own_orders > 0
        assert abandoned > 0 and bought_after == 0
        assert scores == (0, 10)

    def test_features_and_segments_build_on_the_loaded_data(self, clean_warehouse: str) -> None:
        """The daily `dbt build` (the warehouse DAG's: data contract, features, segments, eligibility, data tests)
        passes on the loaded sample, and its buyers have their orders counted and a segment: the warehouse works
        on a retailer's own data."""
        with psycopg.connect(clean_warehouse, autocommit=True) as conn:
            drop_dbt_schemas(conn)  # a new world: no carried-forward features or snapshots of an earlier one
        load(MAPPING, url=clean_warehouse)
        run_date = dt.date(2026, 3, 31)  # the sample's last order is on 27 March
        run_dbt(["build"], clean_warehouse, run_date)
        with psycopg.connect(clean_warehouse) as conn:
            customers, buyers, segmented = conn.execute(
                """select count(*), count(*) filter (where customers.order_count > 0),
                          count(segments.rfm_segment) filter (where customers.order_count > 0)
                   from marts.dim_customers as customers
                   left join marts.customer_segments as segments
                       on segments.customer_id = customers.customer_id and segments.run_date = customers.run_date
                   where customers.run_date = %s""",
                [run_date],
            ).fetchone()
            completed_buyers = conn.execute(
                "select count(distinct customer_id) from raw.orders where status = 'completed' and ordered_at < %s",
                [run_date],
            ).fetchone()[0]
        assert customers == EXPECTED["entities"]["customers"]["rows_loaded"]
        assert buyers == completed_buyers > 0
        assert segmented == buyers
