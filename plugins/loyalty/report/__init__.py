"""Per workflow and variant results from the metric marts, as a table, JSON or a static HTML page.

One row per workflow and arm of marts.metrics_workflow_variants (per journey entry): funnel, conversions,
revenue, lift against the own holdout with its 95% interval, the A/B verdict (sample-ratio check, winner)
and the objective's progress. The JSON carries every column of the mart, and the figures the dashboards show
(`fetch_report`): A/B per variant, objectives, the daily trend, each channel's funnel, program KPIs, the
points liability (its latest day, and per month), tiers, retention cohorts and data quality — the same
numbers the Superset dashboards and `loyalty report --html` display, read from the same marts (the queries:
loyalty/sql/report/).
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg.rows import dict_row

from loyalty.report.figures import Report, Row
from loyalty.sql_files import query

if TYPE_CHECKING:
    from rich.table import Table

COLUMNS = (
    "workflow_id",
    "variant",
    "audience",
    "sent",
    "delivered",
    "opened",
    "clicked",
    "converted",
    "conversion_rate",
    "revenue",
    "absolute_lift",
    "lift_ci_low",
    "lift_ci_high",
    "is_sample_ratio_mismatch",
    "winning_variant",
    "objective_metric",
    "objective_value",
    "objective_target",
    "objective_progress",
)


def _plain(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) else value


def _rows(conn: psycopg.Connection, name: str) -> list[Row]:
    """Rows of the report's query `name` (loyalty/sql/report/), Decimals as floats."""
    with conn.cursor(row_factory=dict_row) as cur:
        return [{key: _plain(value) for key, value in row.items()} for row in cur.execute(query(name)).fetchall()]


def fetch_results(conn: psycopg.Connection) -> list[Row]:
    """Rows of marts.metrics_workflow_variants plus the generator's truth where it exists."""
    return _rows(conn, "report/workflow_variants.sql")


# The report's query on each relation it reads: a relation not built yet (e.g. before the metrics DAG) gives [].
QUERIES = {
    "kpis": ("marts.metrics_loyalty_kpis", "report/loyalty_kpis.sql"),
    "quarantine": ("marts.data_quality_quarantine", "report/quarantine_by_rule.sql"),
    "checks": ("marts.data_quality_results", "report/checks_by_suite.sql"),
    "points_latest": ("marts.metrics_points_liability", "report/points_liability_latest.sql"),
    "points_monthly": ("marts.metrics_points_liability", "report/points_liability_monthly.sql"),
    "experiments": ("marts.metrics_workflow_experiments", "report/workflow_experiments.sql"),
    "attribution": ("marts.metrics_workflow_attribution", "report/workflow_attribution.sql"),
    "objectives": ("marts.metrics_workflow_objectives", "report/workflow_objectives.sql"),
    "daily": ("marts.metrics_workflow_funnel", "report/daily_funnel.sql"),
    "channels": ("marts.metrics_workflow_funnel", "report/channel_funnel.sql"),
    "tiers": ("marts.metrics_loyalty_tiers", "report/loyalty_tiers.sql"),
    "retention": ("marts.metrics_retention_cohorts", "report/retention_cohorts.sql"),
}


def _built(conn: psycopg.Connection, relations: list[str]) -> set[str]:
    """Which of `relations` exist: one round trip for all of them."""
    return {
        relation
        for (relation,) in conn.execute(
            "select relation from unnest(%s::text[]) as relation where to_regclass(relation) is not null", [relations]
        )
    }


def fetch_report(conn: psycopg.Connection) -> Report:
    """Everything the dashboards show, from the marts (Great Expectations results: marts.data_quality_results)."""
    built = _built(conn, sorted({relation for relation, _ in QUERIES.values()}))
    figures = {key: _rows(conn, name) if relation in built else [] for key, (relation, name) in QUERIES.items()}
    kpis, quarantine, checks = figures["kpis"], figures["quarantine"], figures["checks"]
    return {
        "workflows": fetch_results(conn),
        "experiments": figures["experiments"],
        "attribution": figures["attribution"],
        "objectives": figures["objectives"],
        "daily": figures["daily"],
        "channels": figures["channels"],
        "program": {
            "revenue": sum(row["revenue"] or 0 for row in kpis),
            "orders": sum(row["orders"] or 0 for row in kpis),
            "customers_with_orders": max((row["customers_with_orders"] or 0 for row in kpis), default=0),
            "points_liability": next(iter(figures["points_latest"]), None),
            "points_monthly": figures["points_monthly"],
            "months": kpis,
            "tiers": figures["tiers"],
            "retention": figures["retention"],
        },
        "data_quality": {
            "quarantined": sum(row["rows"] for row in quarantine),
            "quarantine": quarantine,
            "checks": sum(row["checks"] for row in checks),
            "checks_failed": sum(row["failed"] for row in checks),
            "suites": checks,
        },
    }


def to_json(rows: list[Row] | Report) -> str:
    """JSON of the scorecard rows, or of a whole `fetch_report`."""
    if isinstance(rows, dict):
        return json.dumps(rows, indent=2, default=str)
    return json.dumps({"workflows": rows}, indent=2, default=str)


def render_table(rows: list[Row]) -> Table:
    """A rich Table for the terminal: one line per workflow and arm."""
    from rich.table import Table

    table = Table(title="Loyalty workflow results per journey entry (lift vs holdout, 95% CI)")
    for header in (
        "workflow",
        "variant",
        "audience",
        "sent",
        "delivered",
        "opened",
        "clicked",
        "converted",
        "conv. rate",
        "revenue",
        "lift [95% CI]",
        "SRM",
        "winner",
        "objective",
    ):
        table.add_column(header, justify="left" if header in {"workflow", "variant"} else "right")
    for row in rows:
        lift = (
            "—"
            if row.get("absolute_lift") is None
            else f"{row['absolute_lift']:+.2%} [{row['lift_ci_low']:+.2%}, {row['lift_ci_high']:+.2%}]"
        )
        table.add_row(
            row["workflow_id"],
            row["variant"],
            f"{row['audience']:,}",
            f"{row['sent']:,}",
            f"{row['delivered']:,}",
            f"{row['opened']:,}",
            f"{row['clicked']:,}",
            f"{row['converted']:,}",
            f"{row['conversion_rate']:.2%}",
            f"{row['revenue']:,.2f}",
            lift,
            "MISMATCH" if row.get("is_sample_ratio_mismatch") else "ok",
            "★" if row.get("is_winner") else ("—" if row.get("winning_variant") is None else ""),
            _objective(row),
        )
    return table


def fetch_channels(conn: psycopg.Connection) -> list[Row]:
    """Per workflow and channel: sent, delivered, opened, clicked, bounced, failed, deferred, with rates."""
    relation, name = QUERIES["channels"]
    return _rows(conn, name) if _built(conn, [relation]) else []


def render_channel_table(rows: list[Row]) -> Table:
    """A rich Table for the terminal: one line per workflow and channel (treated arms)."""
    from rich.table import Table

    table = Table(title="Per channel (treated arms): what went out and what came back")
    columns = ("workflow", "channel", "sent", "delivered", "deliv./sent", "opened", "clicked", "click/deliv.")
    for header in (*columns, "bounced", "failed", "deferred"):
        table.add_column(header, justify="left" if header in {"workflow", "channel"} else "right")
    for row in rows:
        table.add_row(
            row["workflow_id"],
            row["channel"],
            *(f"{row[key]:,}" for key in ("sent", "delivered")),
            _rate(row["delivered_per_sent"]),
            *(f"{row[key]:,}" for key in ("opened", "clicked")),
            _rate(row["clicked_per_delivered"]),
            *(f"{row[key]:,}" for key in ("bounced", "failed", "deferred_waiting")),
        )
    return table


def _rate(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


def _objective(row: Row) -> str:
    """e.g. 'absolute_lift 3.10% / 5.00% (62%)': the objective's value, target and progress."""
    metric, value, target = row.get("objective_metric"), row.get("objective_value"), row.get("objective_target")
    if metric is None or value is None or target is None:
        return "—"
    shown = (lambda v: f"{v:,.2f}") if metric == "revenue_per_customer" else (lambda v: f"{v:.2%}")
    progress = row.get("objective_progress")
    return f"{metric} {shown(value)} / {shown(target)}" + (f" ({progress:.0%})" if progress is not None else "")
