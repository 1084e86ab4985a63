"""The Great Expectations gates (loyalty.quality) against a real warehouse."""

from __future__ import annotations

import datetime as dt

import psycopg
import pytest

from loyalty import operations
from loyalty.paths import WORKFLOWS_DIR
from loyalty.quality import check_audience, check_raw

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


class TestRawChecks:
    def test_failing_raw_rows_are_quarantined_with_the_expectation(self, clean_warehouse: str) -> None:
        """An order of an unknown customer with a negative total is quarantined under both
        expectations; a rerun replaces, never duplicates, the quarantine rows."""
        url = clean_warehouse
        with psycopg.connect(url) as conn:
            conn.execute("insert into raw.customers (customer_id, email, signup_at) values (1, 'a@b.com', now())")
            conn.execute(
                "insert into raw.orders (order_id, customer_id, ordered_at, status, order_total) values "
                "('good', 1, now(), 'completed', 10), ('bad', 99, now(), 'completed', -5)"
            )
        for _ in range(2):
            report = check_raw(url, RUN_DATE)
        assert not report.passed
        with psycopg.connect(url) as conn:
            rules = conn.execute(
                "select rule, row_data ->> 'order_id' from raw.quarantine where source_table = 'orders' order by rule"
            ).fetchall()
        assert rules == [
            ("expectation:expect_column_values_to_be_between:order_total", "bad"),
            ("expectation:expect_column_values_to_be_in_set:has_known_customer", "bad"),
        ]
