"""The shape of the report's figures: what `fetch_report` returns, `loyalty report --format json` prints,
and `report.html.render_html` draws. Rows stay mappings by column: their columns are the marts' (dbt
contracts), not restated here."""

from __future__ import annotations

from typing import Any, TypedDict

Row = dict[str, Any]  # one mart row by column name (Decimals already turned into floats)


class ProgramFigures(TypedDict):
    """Program KPIs: totals over every month, the points liability (latest day, and per month),
    tiers and retention cohorts."""

    revenue: float
    orders: int
    customers_with_orders: int
    points_liability: Row | None
    points_monthly: list[Row]
    months: list[Row]
    tiers: list[Row]
    retention: list[Row]


class DataQualityFigures(TypedDict):
    """Quarantined rows per table and rule, and Great Expectations checks per suite."""

    quarantined: int
    quarantine: list[Row]
    checks: int
    checks_failed: int
    suites: list[Row]


class Report(TypedDict):
    """Everything the dashboards show (see loyalty.report)."""

    workflows: list[Row]
    experiments: list[Row]
    attribution: list[Row]
    objectives: list[Row]
    daily: list[Row]
    channels: list[Row]  # per workflow and channel (treated arms): report/channel_funnel.sql
    program: ProgramFigures
    data_quality: DataQualityFigures
