"""The Great Expectations gates (loyalty.quality) against a real warehouse."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest

from loyalty import operations
from loyalty.paths import WORKFLOWS_DIR
from loyalty.quality import check_audience, check_features, check_raw

from .conftest import RUN_DATE

pytestmark = pytest.mark.integration
WIN_BACK = WORKFLOWS_DIR / "win_back.yml"


def _plan(url: str) -> None:
    operations.plan_run(WIN_BACK, url, RUN_DATE, "quality-test", dry_run=False)
    with psycopg.connect(url) as conn:
        conn.execute(
            "insert into raw.customers (customer_id, email, signup_at, email_consent) "
            "select customer_id, email, now() - interval '1 year', true from marts.eligible_win_back "
            "on conflict do nothing"
        )


class TestAudienceGate:
    def test_a_clean_audience_passes_and_is_recorded(self, audience: str) -> None:
        """The planned win-back audience (valid addresses, consent, nobody suppressed) passes;
        every expectation is in raw.quality_results."""
        _plan(audience)
        check = check_audience(audience, WIN_BACK, RUN_DATE)
        assert check.passed, check.reasons
        assert check.audience_size > 1000
        with psycopg.connect(audience) as conn:
            suites = conn.execute(
                "select suite_name, bool_and(is_success) from raw.quality_results group by suite_name"
            ).fetchall()
        assert suites == [("audience_win_back", True)]

    def test_a_bad_audience_is_blocked_with_reasons(self, audience: str) -> None:
        """An opted-out contact, a malformed address, a customer without consent and a size far
        outside its history each fail the gate, and the reasons say which and how many."""
        _plan(audience)
        with psycopg.connect(audience) as conn:
            first, second, third = conn.execute(
                "select customer_id, recipient from loyalty.send_ledger where status = 'pending' "
                "order by customer_id limit 3"
            ).fetchall()
            conn.execute(
                "insert into loyalty.contactability (channel, address, customer_id, is_contactable, reason, "
                "source_event_id, changed_at) values ('email', %s, %s, false, 'email_unsubscribe', 'e1', now())",
                [first[1], first[0]],
            )
            conn.execute(
                "update loyalty.send_ledger set recipient = 'not-an-email' where customer_id = %s", [second[0]]
            )
            conn.execute("update raw.customers set email_consent = false where customer_id = %s", [third[0]])
            for days in range(1, 5):  # a history of ~10-message days makes today's ~2000 an outlier
                conn.execute(
                    "insert into loyalty.send_ledger (send_id, workflow_id, step_id, customer_id, cycle_key, run_date,"
                    " variant, is_holdout, channel, status) select 'h' || %s || '-' || n, 'win_back', 'email_1', n,"
                    " 'old-' || %s, %s, 'a', false, 'email', 'sent' from generate_series(1, 10) as n",
                    [days, days, RUN_DATE - dt.timedelta(days=days * 7)],
                )
        check = check_audience(audience, WIN_BACK, RUN_DATE)
        assert not check.passed
        joined = "\n".join(check.reasons)
        assert "expect_column_values_to_be_in_set(is_suppressed): 1 of" in joined
        assert "expect_column_values_to_match_regex(email_recipient): 1 of" in joined
        assert "expect_column_values_to_be_in_set(has_consent): 1 of" in joined
        assert "expect_table_row_count_to_be_between" in joined
        with pytest.raises(RuntimeError, match="is_suppressed"):
            check.raise_for_failure()


def _customer_and_orders(url: str, orders: str) -> None:
    """Customer 1, then raw orders: `orders` completes `insert into raw.orders` (columns, then values or a select)."""
    with psycopg.connect(url) as conn:
        conn.execute("insert into raw.customers (customer_id, email, signup_at) values (1, 'a@b.com', now())")
        conn.execute(f"insert into raw.orders {orders}")


class TestRawChecks:
    def test_failing_raw_rows_are_quarantined_with_the_expectation(self, clean_warehouse: str) -> None:
        """An order of an unknown customer with a negative total is quarantined under both
        expectations; a rerun replaces, never duplicates, the quarantine rows."""
        url = clean_warehouse
        _customer_and_orders(
            url,
            "(order_id, customer_id, ordered_at, status, order_total) values "
            "('good', 1, now(), 'completed', 10), ('bad', 99, now(), 'completed', -5)",
        )
        for _ in range(2):
            report = check_raw(url, RUN_DATE)
        assert not report.passed
        with psycopg.connect(url) as conn:
            rules = conn.execute(
                "select rule, row_data ->> 'order_id' from raw.quarantine "
                "where source_table = 'raw.orders' order by rule"
            ).fetchall()
        assert rules == [
            ("expectation:expect_column_values_to_be_between:order_total", "bad"),
            ("expectation:expect_column_values_to_be_in_set:has_known_customer", "bad"),
        ]

    def test_a_push_token_longer_than_any_fcm_token_is_quarantined(self, clean_warehouse: str) -> None:
        """raw.customers.push_token (the app install's FCM token) over 4096 characters breaks the customers'
        suite, naming its row; a customer without a token or with a normal one does not."""
        with psycopg.connect(clean_warehouse) as conn:
            conn.execute(
                "insert into raw.customers (customer_id, email, signup_at, push_consent, push_token) values "
                "(1, 'a@b.com', now(), true, 'fcm-1-abc'), (2, 'b@b.com', now(), true, repeat('x', 4097)), "
                "(3, 'c@b.com', now(), false, null)"
            )
        report = check_raw(clean_warehouse, RUN_DATE)
        assert report.reasons == ["raw_customers: expect_column_value_lengths_to_be_between(push_token): 1 of 3 rows"]
        with psycopg.connect(clean_warehouse) as conn:
            quarantined = conn.execute(
                "select rule, row_data ->> 'customer_id' from raw.quarantine where source_table = 'raw.customers'"
            ).fetchall()
        assert quarantined == [("expectation:expect_column_value_lengths_to_be_between:push_token", "2")]

    def test_a_daily_check_reads_only_the_rows_loaded_since_the_previous_one(self, clean_warehouse: str) -> None:
        """Day 2's check validates day 2's loads (and day 1's last hour, the margin for loads in flight),
        not the table: its results count 3 rows, not 52. Day 1's quarantined row stays, the new bad row
        is quarantined once, and a rerun of day 2 reads the same window without duplicating either."""
        url = clean_warehouse
        _customer_and_orders(
            url,
            "(order_id, customer_id, ordered_at, status, order_total, loaded_at) "
            "select 'old-' || n, 1, now(), 'completed', case when n = 50 then -5 else 10 end, "
            "now() - interval '2 days' - n * interval '2 hours' from generate_series(1, 50) as n",
        )
        check_raw(url, RUN_DATE)
        with psycopg.connect(url) as conn:
            conn.execute(
                "insert into raw.orders (order_id, customer_id, ordered_at, status, order_total) values "
                "('new-good', 1, now(), 'completed', 10), ('new-bad', 1, now(), 'completed', 1000000)"
            )
        day_two = RUN_DATE + dt.timedelta(days=1)
        for _ in range(2):
            report = check_raw(url, day_two)
        assert report.reasons == ["raw_orders: expect_column_values_to_be_between(order_total): 1 of 3 rows"]
        with psycopg.connect(url) as conn:
            quarantined = conn.execute(
                "select row_data ->> 'order_id' from raw.quarantine where source_table = 'raw.orders' order by 1"
            ).fetchall()
            counted = conn.execute(
                "select run_date, max(element_count) from raw.quality_results where suite_name = 'raw_orders' "
                "group by run_date order by run_date"
            ).fetchall()
        assert quarantined == [("new-bad",), ("old-50",)]
        assert counted == [(RUN_DATE, 50), (day_two, 3)]

    def test_frames_of_a_window_add_up_to_the_whole(self, clean_warehouse: str) -> None:
        """Read in frames of 2 rows (a server-side cursor), 5 orders give the same findings as one
        frame: every failing row quarantined, counts summed over the frames."""
        url = clean_warehouse
        _customer_and_orders(
            url,
            "(order_id, customer_id, ordered_at, status, order_total) "
            "select 'o' || n, case when n = 4 then 99 else 1 end, now(), 'completed', "
            "case when n in (2, 5) then -1 else 10 end from generate_series(1, 5) as n",
        )
        report = check_raw(url, RUN_DATE, chunk_rows=2)
        assert sorted(report.reasons) == [
            "raw_orders: expect_column_values_to_be_between(order_total): 2 of 5 rows",
            "raw_orders: expect_column_values_to_be_in_set(has_known_customer): 1 of 5 rows",
        ]
        assert report.quarantined == 3
        with psycopg.connect(url) as conn:
            results = conn.execute(
                "select bool_and(is_success), max(element_count) from raw.quality_results "
                "where suite_name = 'raw_orders' and column_name = 'order_id'"
            ).fetchone()
        assert results == (True, 5)

    def test_the_check_first_summarizes_the_load_indexes(self, clean_warehouse: str) -> None:
        """After a bulk load the BRIN ranges on raw.orders (loaded_at) are unsummarized and a window would
        read the whole table; the check summarizes them before reading, leaving nothing for later."""
        _customer_and_orders(
            clean_warehouse,
            "(order_id, customer_id, ordered_at, status, order_total, loaded_at) "
            "select 'bulk-' || n, 1, now(), 'completed', 10, '2026-01-01'::timestamptz + n * interval '1 minute' "
            "from generate_series(1, 40000) as n",
        )
        check_raw(clean_warehouse, RUN_DATE)
        with psycopg.connect(clean_warehouse) as conn:
            left = conn.execute("select brin_summarize_new_values('raw.orders_loaded_at')").fetchone()[0]
        assert left == 0


def _features(url: str, days: dict[dt.date, float]) -> None:
    """A stand-in for marts.dim_customers: 200 customers per run date, every feature scaled by `days[d]`."""
    with psycopg.connect(url) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute("drop table if exists marts.dim_customers cascade")
        conn.execute(
            """create table marts.dim_customers (customer_id int, run_date date, order_count int,
               days_since_last_order int, average_order_value numeric, tenure_days int,
               churn_risk_score numeric, predicted_clv_365d numeric)"""
        )
        for day, scale in days.items():
            conn.execute(
                """insert into marts.dim_customers
                   select id, %(day)s, round(3 * %(s)s), round(40 * %(s)s), 55.5 * %(s)s, round(400 * %(s)s),
                          least(0.3 * %(s)s, 1), 120 * %(s)s
                   from generate_series(1, 200) as id""",
                {"day": day, "s": scale},
            )


class TestFeatureChecks:
    PREVIOUS, TODAY = RUN_DATE - dt.timedelta(days=1), RUN_DATE

    @pytest.fixture(autouse=True)
    def _drop_the_stand_in(self, clean_warehouse: str) -> Iterator[None]:
        """The hand-made marts.dim_customers goes with the test: a later dbt build must not find it."""
        yield
        with psycopg.connect(clean_warehouse) as conn:
            conn.execute("drop table if exists marts.dim_customers cascade")

    def test_stable_features_pass_and_are_recorded(self, clean_warehouse: str) -> None:
        _features(clean_warehouse, {self.PREVIOUS: 1.0, self.TODAY: 1.1})
        report = check_features(clean_warehouse, self.TODAY)
        assert report.passed, report.reasons
        with psycopg.connect(clean_warehouse) as conn:
            recorded = conn.execute(
                "select count(*), bool_and(is_success) from raw.quality_results where suite_name = 'features'"
            ).fetchone()
        assert recorded[0] > 0 and recorded[1] is True

    def test_the_first_run_date_has_nothing_to_compare(self, clean_warehouse: str) -> None:
        _features(clean_warehouse, {self.TODAY: 1.0})
        assert check_features(clean_warehouse, self.TODAY).passed

    def test_drift_fails_the_airflow_task_without_retry(self, clean_warehouse: str, monkeypatch) -> None:
        """Features that doubled overnight fail the warehouse DAG's check_features task with
        AirflowFailException (no retry; it emits the Asset that starts the workflows only on success),
        naming each feature that moved."""
        from airflow.sdk.exceptions import AirflowFailException

        from loyalty.orchestration.factory import warehouse_dag

        _features(clean_warehouse, {self.PREVIOUS: 1.0, self.TODAY: 2.0})
        report = check_features(clean_warehouse, self.TODAY)
        assert not report.passed
        assert any("order_count" in reason for reason in report.reasons)
        monkeypatch.delenv("AIRFLOW_CONN_LOYALTY_WAREHOUSE", raising=False)
        monkeypatch.setenv("LOYALTY_WAREHOUSE_URL", clean_warehouse)
        task = warehouse_dag().get_task("check_features")
        with pytest.raises(AirflowFailException, match=r"feature drift: .*average_order_value"):
            task.python_callable(params={"run_date": self.TODAY.isoformat()})
