"""The static HTML report: real charts (inline SVG), the report's figures, and nothing fetched from the network."""

from __future__ import annotations

import datetime as dt
import json
import re
from html.parser import HTMLParser

import pytest

from loyalty import report
from loyalty.report.html import render_html


def _arm(variant: str, audience: int, converted: int, lift: float | None, holdout: bool = False) -> dict:
    return {
        "workflow_id": "win_back",
        "variant": variant,
        "arm_type": "holdout" if holdout else "variant",
        "is_holdout": holdout,
        "audience": audience,
        "sent": 0 if holdout else audience - 7,
        "delivered": 0 if holdout else audience - 9,
        "opened": 0 if holdout else audience // 3,
        "clicked": 0 if holdout else audience // 12,
        "unsubscribed": 0,
        "converted": converted,
        "conversion_rate": converted / audience,
        "revenue": converted * 121.5,
        "absolute_lift": lift,
        "lift_ci_low": None if lift is None else lift - 0.061,
        "lift_ci_high": None if lift is None else lift + 0.058,
        "is_sample_ratio_mismatch": False,
        "winning_variant": None,
        "objective_progress": 1.25,
    }


@pytest.fixture
def figures() -> dict:
    """A report shaped like `report.fetch_report`, with figures easy to find in the page."""
    return {
        "workflows": [
            _arm("holdout", 166, 17, None, holdout=True),
            _arm("ten_percent_off", 327, 61, 0.084135),
            _arm("we_miss_you", 355, 65, -0.012345),
        ],
        "experiments": [
            {
                "workflow_id": "win_back",
                "variant": variant,
                "entries": entries,
                "expected_share": 0.4,
                "observed_share": share,
                "conversion_rate": rate,
                "conversion_rate_ci_low": None if rate is None else rate - 0.04,
                "conversion_rate_ci_high": None if rate is None else rate + 0.04,
                "difference_vs_control": diff,
                "difference_ci_low": None if diff is None else diff - 0.05,
                "difference_ci_high": None if diff is None else diff + 0.05,
                "srm_p_value": 0.534946,
                "is_sample_ratio_mismatch": mismatch,
                "winning_variant": None,
            }
            for variant, entries, share, rate, diff, mismatch in (
                ("we_miss_you", 355, 0.4186, 0.183099, None, True),
                ("ten_percent_off", 327, 0.3856, 0.186544, 0.003446, True),
                ("empty_arm", 0, None, None, None, False),
            )
        ],
        "attribution": [
            {
                "workflow_id": "win_back",
                "variant": "ten_percent_off",
                "window_revenue": 9_150.0,
                "last_touch_revenue": 8_700.0,
                "click_revenue": 1_020.5,
                "incremental_revenue": 3_050.0,
                "incremental_revenue_ci_low": 610.0,
                "incremental_revenue_ci_high": 5_490.0,
                "window_to_incremental_revenue_ratio": 3.0,
            }
        ],
        "objectives": [
            {
                "workflow_id": "win_back",
                "entry_week": dt.date(2026, 6, 1) + dt.timedelta(weeks=week),
                "objective_metric": "absolute_lift",
                "objective_target": 0.05,
                "cumulative_value": 0.07 + week / 100,
            }
            for week in range(3)
        ],
        "channels": [
            {
                "workflow_id": "birthday_reward",
                "channel": "sms",
                "sent": 4321,
                "delivered": 4190,
                "opened": 0,
                "clicked": 0,
                "bounced": 0,
                "failed": 17,
                "deferred_waiting": 3,
                "delivered_per_sent": 0.9697,
                "clicked_per_delivered": 0.0,
            },
            {
                "workflow_id": "birthday_reward",
                "channel": "email",
                "sent": 812,
                "delivered": 788,
                "opened": 301,
                "clicked": 97,
                "bounced": 24,
                "failed": 0,
                "deferred_waiting": 0,
                "delivered_per_sent": 0.9704,
                "clicked_per_delivered": 0.1231,
            },
        ],
        "daily": [
            {"run_date": dt.date(2026, 6, 1), "sent": 650, "delivered": 640, "opened": 210, "converted": 120},
            {"run_date": dt.date(2026, 6, 8), "sent": 30, "delivered": 28, "opened": 9, "converted": 4},
        ],
        "program": {
            "revenue": 1213459.97,
            "orders": 10746,
            "customers_with_orders": 1919,
            "points_liability": {
                "activity_date": dt.date(2026, 6, 30),
                "points_outstanding": 1234567,
                "liability_value": 12345.67,
            },
            "points_monthly": [
                {
                    "month": dt.date(2026, month, 1),
                    "points_earned": 100000 + month,
                    "points_rewarded": 2000 + month,
                    "points_expired": 30000 + month,
                    "points_outstanding": 1000000 + month * 1000,
                    "liability_value": 10000.0 + month * 10,
                }
                for month in (4, 5, 6)
            ],
            "months": [
                {
                    "order_month": dt.date(2026, month, 1),
                    "buyers": 600 + month,
                    "orders": 900 + month,
                    "revenue": 100000.5 + month,
                    "repeat_customer_rate": 0.8,
                    "average_order_value": 111.0,
                    "churn_rate": 0.2,
                    "historic_clv": 600.0,
                }
                for month in (4, 5, 6)
            ],
            "tiers": [
                {"loyalty_tier": "Bronze", "customers": 1770, "revenue_365d": 83359.42},
                {"loyalty_tier": "Gold <VIP>", "customers": 369, "revenue_365d": 387843.07},
            ],
            "retention": [
                {"cohort_month": dt.date(2026, 4, 1), "months_since_first_order": months, "retention_rate": rate}
                for months, rate in ((0, 1.0), (1, 0.3), (2, 0.25))
            ],
        },
        "data_quality": {
            "quarantined": 3,
            "quarantine": [
                {
                    "source_table": "raw.orders",
                    "quarantine_rule": "loader:bad_total",
                    "quarantine_scope": "loader",
                    "rows": 3,
                }
            ],
            "checks": 12,
            "checks_failed": 1,
            "suites": [
                {
                    "suite_name": "audience_win_back",
                    "expectation_type": "expect_column_values_to_not_be_null",
                    "checks": 12,
                    "failed": 1,
                    "unexpected_values": 4,
                }
            ],
        },
    }


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, dict(attrs)))


class TestHtmlReport:
    def test_opens_offline(self, figures: dict) -> None:
        """No URL, no external script, stylesheet, image or font: the file is all there is."""
        page = render_html(figures)
        assert not re.search(r"https?:|//[a-z0-9.-]+\.[a-z]{2,}/|url\((?!#)", page, re.IGNORECASE)
        collector = _Collector()
        collector.feed(page)
        for tag, attrs in collector.tags:
            assert tag not in {"script", "link", "img", "iframe", "object", "embed"}, tag
            assert not {"src", "srcset"} & set(attrs), (tag, attrs)
            assert not str(attrs.get("href", "")).startswith(("http", "//")), (tag, attrs)

    def test_draws_the_key_charts_as_svg(self, figures: dict) -> None:
        """Funnel, lift with intervals, daily trend, objective, A/B intervals, points outstanding, points per month,
        revenue, rates, tiers, retention and quarantine: each an inline SVG plot with axes, not a table."""
        page = render_html(figures)
        assert page.count("<svg") == 12
        for title in (
            "Funnel per arm",
            "Lift against holdout, 95% interval",
            "Daily sends and outcomes",
            "Objective of win_back",
            "Conversion rate per variant, 95% Wilson interval",
            "Points outstanding (month end)",
            "Points earned, granted by rewards and expired per month",
            "Monthly revenue",
            "Repeat and churn rates",
            "Customers per tier",
            "Retention by monthly cohort",
            "Quarantine per table and rule",
        ):
            assert title in page, title

    def test_shows_the_report_figures(self, figures: dict) -> None:
        """The numbers are the JSON report's, formatted as the dashboards format them."""
        page = render_html(figures)
        for text in ("327", "8.41%", "+8.41%", "-1.23%", "18.65%", "7,411.50", "1,213,459.97", "10,746", "1,919"):
            assert text in page, text
        assert "Sample-ratio mismatch in: win_back" in page
        assert "empty_arm" not in page  # variants without entries are left out

    def test_shows_attributed_next_to_incremental(self, figures: dict) -> None:
        """The over-credit is visible: window, last-touch and click-only revenue beside the incremental revenue
        and its interval, with their ratio."""
        page = render_html(figures)
        assert "Attributed vs incremental" in page
        for text in ("9,150.00", "8,700.00", "1,020.50", "3,050.00", "610.00", "5,490.00", "3.0×"):
            assert text in page, text

    def test_shows_each_channels_funnel(self, figures: dict) -> None:
        """Per workflow and channel: sent, delivered and its rate, clicks and theirs, failures and deferrals."""
        page = render_html(figures)
        assert "Per channel" in page
        for text in ("4,321", "4,190", "96.97%", "17", "812", "97", "12.31%"):
            assert text in page, text

    def test_shows_the_points_liability(self, figures: dict) -> None:
        """The latest day of marts.metrics_points_liability: its value and the points outstanding, with the day."""
        page = render_html(figures)
        assert "Points liability <b>12,345.67</b> · points outstanding <b>1,234,567</b> (as of 2026-06-30)" in page
        assert "not shown" not in page

    def test_without_points_ledger(self, figures: dict) -> None:
        """Before the points marts are built: a note instead of the figure, no points charts."""
        figures["program"]["points_liability"] = None
        figures["program"]["points_monthly"] = []
        page = render_html(figures)
        assert "Points liability: no points ledger built yet" in page
        assert "Points outstanding (month end)" not in page
        assert page.count("<svg") == 10

    def test_escapes_text(self, figures: dict) -> None:
        assert "Gold &lt;VIP&gt;" in render_html(figures)

    def test_empty_warehouse(self) -> None:
        """Before the metrics DAG ran: a page that says so, not a crash."""
        empty = {
            "workflows": [],
            "experiments": [],
            "objectives": [],
            "daily": [],
            "program": {
                "revenue": 0,
                "orders": 0,
                "customers_with_orders": 0,
                "points_liability": None,
                "points_monthly": [],
                "months": [],
                "tiers": [],
                "retention": [],
            },
            "data_quality": {"quarantined": 0, "quarantine": [], "checks": 0, "checks_failed": 0, "suites": []},
        }
        assert "No workflow results yet" in render_html(empty)


class TestJson:
    def test_rows_keep_their_shape(self) -> None:
        assert json.loads(report.to_json([{"workflow_id": "w"}])) == {"workflows": [{"workflow_id": "w"}]}

    def test_whole_report(self, figures: dict) -> None:
        document = json.loads(report.to_json(figures))
        assert set(document) == {
            "workflows",
            "experiments",
            "attribution",
            "objectives",
            "daily",
            "channels",
            "program",
            "data_quality",
        }
        assert document["daily"][0]["run_date"] == "2026-06-01"
