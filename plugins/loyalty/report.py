"""Per workflow and variant results from the metric marts, as a table or JSON."""

from __future__ import annotations

import json
from decimal import Decimal

import psycopg
from psycopg.rows import dict_row

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
)


def fetch_results(conn: psycopg.Connection) -> list[dict]:
    """Rows of marts.metrics_workflow_variants plus the generator's truth where it exists."""
    with conn.cursor(row_factory=dict_row) as cur:
        rows = cur.execute(
            "select * from marts.metrics_workflow_variants order by workflow_id, is_holdout desc, variant"
        ).fetchall()
    return [{key: float(value) if isinstance(value, Decimal) else value for key, value in row.items()} for row in rows]


def to_json(rows: list[dict]) -> str:
    return json.dumps({"workflows": rows}, indent=2, default=str)


def render_table(rows: list[dict]):
    """A rich Table for the terminal: one line per workflow and arm."""
    from rich.table import Table

    table = Table(title="Loyalty workflow results (lift vs holdout, 95% CI)")
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
        )
    return table


def truth_lines(rows: list[dict]) -> list[str]:
    """For the demo: the generator's true effect next to what the holdout comparison measured."""
    from loyalty.simulation.truth import TRUTH, expected_absolute_lift

    lines = []
    holdouts = {r["workflow_id"]: r for r in rows if r["is_holdout"]}
    for row in rows:
        holdout = holdouts.get(row["workflow_id"])
        if row["is_holdout"] or holdout is None or row["workflow_id"] not in TRUTH or not row["audience"]:
            continue
        truth = expected_absolute_lift(
            row["workflow_id"], holdout["conversion_rate"], row["delivered"] / row["audience"]
        )
        covered = row["lift_ci_low"] <= truth <= row["lift_ci_high"]
        lines.append(
            f"{row['workflow_id']}/{row['variant']}: true lift {truth:+.2%} (generator) vs measured "
            f"{row['absolute_lift']:+.2%} [{row['lift_ci_low']:+.2%}, {row['lift_ci_high']:+.2%}]: "
            + ("interval covers the truth" if covered else "interval MISSES the truth")
        )
    return lines
