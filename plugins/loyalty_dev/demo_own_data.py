"""The demo on a retailer's own data: `loyalty-dev demo --mapping MAPPING.yml` (`make demo-sample`).

Where `make demo` simulates weeks of a synthetic retailer, this takes one export as it is: a fresh world,
`loyalty load --mapping`, then the day after the newest order (as if the export were taken that day)
through the same real Airflow runs, emulator and webhook receiver as the demo (loyalty_dev.demo): the
warehouse DAG, every workflow DAG the warehouse schedules, the metrics DAG. It prints what each workflow
did that day and the data-quality picture. Lift needs outcomes after the sends, which one export has not
got: it says so instead of printing empty columns.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from psycopg.rows import dict_row
from rich.console import RenderableType
from rich.table import Table

from loyalty import warehouse
from loyalty.loader import LoadReport, load
from loyalty.loader.render import render_table
from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import load_spec, spec_paths
from loyalty.sql_files import query
from loyalty_dev import local_airflow
from loyalty_dev.demo import CHANNEL_POOLS, Stack, start_stack

SQL_DIR = Path(__file__).resolve().parent / "sql"
Progress = Callable[[RenderableType], None]


@dataclass
class DayResult:
    """What one run date did on the loaded data: the numbers the demo prints and the test checks."""

    run_date: dt.date
    workflows: list[str]
    skipped: dict[str, str]  # workflow id -> why it did not run
    customers_with_features: int  # marts.dim_customers rows for the run date
    per_workflow: list[dict[str, Any]]  # sql/workflow_day.sql
    quarantine: list[dict[str, Any]]  # per source table, rule and scope (loyalty/sql/report/quarantine_by_rule.sql)


def warehouse_workflows(workflows_dir: Path = WORKFLOWS_DIR) -> tuple[list[str], dict[str, str]]:
    """Workflow ids scheduled after the warehouse DAG, and the others with why they do not run on an export."""
    scheduled, skipped = [], {}
    for path in spec_paths(workflows_dir):
        spec = load_spec(path)
        if spec.schedule == "warehouse":
            scheduled.append(spec.id)
        elif spec.runs_intraday:
            skipped[spec.id] = (
                f"runs {spec.schedule}: its audience is a view of live behaviour read as of now, not as of the "
                "export's date"
            )
        else:
            skipped[spec.id] = f"schedule {spec.schedule or 'none (manual)'}: not run after the warehouse DAG"
    return scheduled, skipped


class DemoInputError(ValueError):
    """The demo cannot run on what it was given (an unknown workflow, a mapping that loaded no order)."""


def check_workflows(workflows: Sequence[str], scheduled: Sequence[str]) -> None:
    for workflow in workflows:
        if workflow not in scheduled:
            raise DemoInputError(f"{workflow!r} is not a workflow scheduled after the warehouse DAG: {list(scheduled)}")


def prepare_own_world(url: str, mapping: Path, progress: Progress) -> LoadReport:
    """Empty the app's tables and dbt's schemas (as prepare_world does), then load the mapping's sources."""
    warehouse.init_schema(url)
    with warehouse.connect(url) as conn:
        warehouse.empty_app_tables(conn)
        warehouse.drop_dbt_schemas(conn)
    progress(f"fresh world; loading {mapping}")
    report = load(mapping, url=url)
    progress(render_table(report))
    return report


def export_run_date(url: str) -> dt.date:
    """The day after the newest order in raw.orders (UTC, as dbt dates orders): the export's day."""
    with warehouse.connect(url) as conn:
        row = conn.execute("select max(ordered_at at time zone 'UTC')::date from raw.orders").fetchone()
    if row is None or row[0] is None:
        raise DemoInputError("raw.orders is empty: the mapping loaded no order, so there is no export date")
    newest: dt.date = row[0]
    return newest + dt.timedelta(days=1)


def run_export_day(running: Stack, run_date: dt.date, workflows: Sequence[str], progress: Progress) -> DayResult:
    """Real Airflow runs for one day: warehouse, each workflow, then metrics after the webhooks are in."""
    scheduled, skipped = warehouse_workflows()
    check_workflows(workflows, scheduled)
    skipped |= {workflow: "left out of this run" for workflow in scheduled if workflow not in workflows}
    progress("preparing Airflow (metadata DB, pools)")
    local_airflow.prepare(running.airflow_env, pools=CHANNEL_POOLS)
    running.set_clock(dt.datetime.combine(run_date, dt.time(9), tzinfo=dt.UTC))
    progress(f"{run_date}: warehouse DAG (Great Expectations on the loaded rows, dbt build, feature checks)")
    local_airflow.dags_test("loyalty_warehouse", run_date, running.airflow_env)
    for workflow in workflows:
        progress(f"{run_date}: {workflow} DAG")
        local_airflow.dags_test(workflow, run_date, running.airflow_env)
    running.flush_webhooks()
    progress(f"{run_date}: metrics DAG")
    local_airflow.dags_test("loyalty_metrics", run_date, running.airflow_env)
    with warehouse.connect(running.warehouse_url) as conn, conn.cursor(row_factory=dict_row) as cur:
        features = cur.execute(
            "select count(*) as customers from marts.dim_customers where run_date = %s", [run_date]
        ).fetchone()
        per_workflow = cur.execute(
            query("workflow_day.sql", SQL_DIR), {"run_date": run_date, "workflows": list(workflows)}
        ).fetchall()
        quarantine = cur.execute(query("report/quarantine_by_rule.sql")).fetchall()
    return DayResult(
        run_date=run_date,
        workflows=list(workflows),
        skipped=skipped,
        customers_with_features=features["customers"] if features else 0,
        per_workflow=per_workflow,
        quarantine=quarantine,
    )


def run_demo_on_data(
    mapping: Path,
    run_date: dt.date | None = None,
    workflows: Sequence[str] | None = None,
    progress: Progress = print,
) -> DayResult:
    """The whole demo on the data a mapping loads (the embedded or configured warehouse, emptied first)."""
    scheduled = warehouse_workflows()[0]
    check_workflows(workflows or scheduled, scheduled)  # before anything is emptied
    url = warehouse.resolve_url()
    prepare_own_world(url, mapping, progress)
    if run_date is None:
        run_date = export_run_date(url)
        progress(f"run date {run_date}: the day after the newest order, as if the export were taken that day")
    else:
        progress(f"run date {run_date} (given)")
    with ExitStack() as stack:
        running = start_stack(stack, url, seed=42)
        progress(f"emulator at {running.emulator.url}, webhook receiver at {running.receiver.url}")
        return run_export_day(running, run_date, workflows or scheduled, progress)


def render_day(result: DayResult) -> list[RenderableType]:
    """The workflows' day, the data-quality picture, and why there is no lift figure."""
    workflows = Table(title=f"workflows on {result.run_date}", title_justify="left")
    for column in ("workflow", "entered", "held out", "sent", "rewards", "suppressed", "delivered", "opened"):
        workflows.add_column(column, justify="left" if column == "workflow" else "right")
    for row in result.per_workflow:
        suppressed = str(row["suppressed"]) + (f" ({row['suppressed_by_reason']})" if row["suppressed"] else "")
        workflows.add_row(
            row["workflow_id"],
            *(str(row[key]) for key in ("entered", "held_out", "sent", "rewarded")),
            suppressed,
            str(row["delivered"]),
            str(row["opened"]),
        )
    quality = Table(title="data quality: quarantined rows (marts.data_quality_quarantine)", title_justify="left")
    for column in ("source", "scope", "rows", "reasons"):
        quality.add_column(column, justify="right" if column == "rows" else "left")
    by_source: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for row in result.quarantine:  # the largest first
        by_source.setdefault((row["source_table"], row["quarantine_scope"]), []).append(row)
    for (source, scope), rows in sorted(by_source.items()):
        reasons = ", ".join(f"{row['quarantine_rule']} {row['rows']}" for row in rows)
        quality.add_row(source, scope, str(sum(row["rows"] for row in rows)), reasons)
    skipped = [f"not run: {workflow} ({why})" for workflow, why in result.skipped.items()]
    unsettled = [
        f"{row['workflow_id']}: {row['other_status']} ledger rows neither sent, held out nor suppressed "
        "(pending, failed or unknown: see loyalty.send_ledger)"
        for row in result.per_workflow
        if row["other_status"]
    ]
    return [
        f"features built for {result.customers_with_features} customers as of {result.run_date} (marts.dim_customers)",
        workflows,
        "One day plans each journey's first step; a step after a wait or after an earlier step's outcome (such as "
        "birthday_reward's greeting once its points are granted) comes due in a later run.",
        *unsettled,
        *skipped,
        quality,
        "scopes: loader = rejected by `loyalty load` (never reached raw); value = the dbt contract dropped one "
        "value and kept the row; row = the contract kept the row out of the marts; expectation = flagged by "
        "Great Expectations on the raw rows (reported only).",
        "Lift: not measured. It compares conversions after the sends with the holdout's, and a one-day export "
        "has no orders after its last day. Load the next exports (the loyalty_load DAG does it hourly) and "
        "run the metrics DAG once the attribution windows close: `loyalty report` then shows lift per variant "
        "with its 95% interval. `make demo` shows that measurement on a synthetic retailer with a known effect.",
    ]
