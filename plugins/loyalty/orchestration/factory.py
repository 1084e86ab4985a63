"""DAG factory: one Airflow DAG per workflow spec, plus the warehouse and metrics DAGs.

DAG files call these functions and nothing else. Nothing here touches the warehouse or the
network at parse time: tasks import and connect when they run.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path
from typing import Any

from airflow.sdk import DAG, Asset, Param, task

from loyalty.specs import WorkflowSpec, load_spec

log = logging.getLogger(__name__)

WAREHOUSE_ASSET = Asset("loyalty://warehouse/marts")
SENDS_ASSET = Asset("loyalty://ledger/sends")
START_DATE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
DEFAULT_ARGS = {"retries": 2, "retry_delay": dt.timedelta(seconds=30)}
RUN_PARAMS = {
    "run_date": Param(None, type=["null", "string"], format="date", description="As-of date; default: logical date"),
}


def run_date_of(context: dict[str, Any]) -> dt.date:
    """The as-of date of a run: `params.run_date` when given, else the run's logical date."""
    given = (context.get("params") or {}).get("run_date")
    if given:
        return dt.date.fromisoformat(str(given))
    dag_run = context["dag_run"]
    moment = dag_run.logical_date or dag_run.run_after
    return moment.date()


def _dbt_build_task(select: str | None, outlets: list[Asset]):
    @task(task_id="dbt_build", outlets=outlets)
    def dbt_build(**context: Any) -> None:
        """dbt build as of the run date (features, eligibility, metrics)."""
        from loyalty.dbt import run_dbt
        from loyalty.orchestration.connections import warehouse_url

        command = ["build"] + (["--select", select] if select else [])
        run_dbt(command, warehouse_url(), run_date=run_date_of(context), quiet=False)

    return dbt_build()


def warehouse_dag() -> DAG:
    """dbt build of the whole project; its Asset starts the workflow DAGs."""
    with DAG(
        dag_id="loyalty_warehouse",
        schedule="@daily",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loyalty", "warehouse", "dbt"],
        default_args={"owner": "data-platform", **DEFAULT_ARGS},
        params=RUN_PARAMS,
        doc_md="Builds the dbt project (staging, customer features, eligibility, metrics) as of the run date.",
    ) as dag:
        _dbt_build_task(None, [WAREHOUSE_ASSET])
    return dag


def metrics_dag() -> DAG:
    """Refreshes the metric marts after workflows sent and webhooks came back."""
    with DAG(
        dag_id="loyalty_metrics",
        schedule=[SENDS_ASSET],
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loyalty", "metrics", "dbt"],
        default_args={"owner": "analytics", **DEFAULT_ARGS},
        params=RUN_PARAMS,
        doc_md="Rebuilds the metric marts (funnel, conversions, lift with confidence intervals).",
    ) as dag:
        _dbt_build_task("+path:models/marts/metrics", [])
    return dag


def _doc_md(spec: WorkflowSpec) -> str:
    variants = ", ".join(f"{v.id} ({v.weight:.0%})" for v in spec.experiment.variants)
    steps = "\n".join(f"- `{step.id}`: {step.type} by {step.channel}" for step in spec.steps)
    return (
        f"## {spec.name}\n\n{spec.description}\n\n"
        f"- Audience: `{spec.audience.schema_}.{spec.audience.model}`\n"
        f"- Holdout: {spec.experiment.holdout_pct:.0%}; variants: {variants}\n"
        f"- Attribution window: {spec.attribution_window_days} days\n\n### Steps\n{steps}\n"
    )


def workflow_dag(spec_path: Path) -> DAG:
    """Plan -> batch -> send (mapped, one pool per channel) -> summarize, for each step."""
    spec = load_spec(spec_path)
    schedule: Any = [WAREHOUSE_ASSET] if spec.schedule == "warehouse" else spec.schedule
    with DAG(
        dag_id=spec.id,
        schedule=schedule,
        start_date=dt.datetime.fromisoformat(spec.start_date).replace(tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["loyalty", "workflow", *spec.tags],
        default_args={"owner": spec.owner, **DEFAULT_ARGS},
        params=RUN_PARAMS,
        doc_md=_doc_md(spec),
    ) as dag:
        for step in spec.steps:
            _step_tasks(spec_path, step.id, step.channel)
    return dag


def _step_tasks(spec_path: Path, step_id: str, channel: str) -> None:
    @task(task_id=f"{step_id}__plan")
    def plan(**context: Any) -> dict:
        """Select the eligible audience, assign holdout/variants, write ledger rows."""
        from dataclasses import asdict

        from loyalty import ledger
        from loyalty.orchestration.connections import warehouse_url
        from loyalty.warehouse import connect

        spec = load_spec(spec_path)
        with connect(warehouse_url()) as conn:
            stuck = ledger.reconcile_stuck(conn, spec.id)
            summary = ledger.plan_step(conn, spec, step_id, run_date_of(context))
        if stuck:
            log.warning("%d rows were left in 'sending' by an interrupted run: marked unknown", stuck)
        log.info("plan: %s", summary)
        return asdict(summary)

    @task(task_id=f"{step_id}__batches")
    def batches(planned: dict, **context: Any) -> list[str]:
        """Group pending rows into provider-sized batches; one mapped send task per batch."""
        from loyalty import ledger
        from loyalty.orchestration.connections import warehouse_url
        from loyalty.warehouse import connect

        spec = load_spec(spec_path)
        with connect(warehouse_url()) as conn:
            batch_ids = ledger.assign_batches(conn, spec, step_id, run_date_of(context))
        log.info("%d batches to send", len(batch_ids))
        return batch_ids

    @task(task_id=f"{step_id}__send", pool=channel, map_index_template="{{ task.op_kwargs['batch_id'] }}")
    def send(batch_id: str) -> dict:
        """Send one batch through the channel's real client; record provider ids."""
        from functools import partial

        from loyalty import ledger
        from loyalty.channels.sendgrid_email import SendGridEmail
        from loyalty.orchestration.connections import sendgrid_settings, warehouse_url
        from loyalty.warehouse import connect

        spec = load_spec(spec_path)
        settings = sendgrid_settings()
        sender = SendGridEmail(settings.api_key, settings.from_email, host=settings.host)
        result = ledger.send_batch(partial(connect, warehouse_url()), spec, batch_id, sender)
        log.info("batch %s: %s", batch_id, result)
        return result

    @task(task_id=f"{step_id}__summarize", outlets=[SENDS_ASSET], trigger_rule="all_done")
    def summarize(**context: Any) -> dict:
        """Per-run ledger counts by status, in the task log for the data team."""
        from loyalty import ledger
        from loyalty.orchestration.connections import warehouse_url
        from loyalty.warehouse import connect

        spec = load_spec(spec_path)
        with connect(warehouse_url()) as conn:
            counts = ledger.run_summary(conn, spec.id, run_date_of(context))
        log.info("run summary for %s: %s", spec.id, counts)
        return counts

    planned = plan()
    batch_ids = batches(planned)
    sent = send.expand(batch_id=batch_ids)
    sent >> summarize()


def invalid_spec_dag(spec_path: Path, error: Exception) -> DAG:
    """A visible placeholder for a spec that does not load: its only task fails with the error."""
    message = str(error)
    with DAG(
        dag_id=f"{spec_path.stem}__invalid_spec",
        schedule=None,
        start_date=START_DATE,
        catchup=False,
        tags=["loyalty", "invalid-spec"],
        default_args={"owner": "loyalty"},
        doc_md=(
            f"## Invalid workflow spec\n\n```\n{message}\n```\n\n"
            f"Fix `{spec_path.name}`; other workflows are unaffected."
        ),
    ) as dag:

        @task(task_id="report_invalid_spec")
        def report_invalid_spec() -> None:
            raise ValueError(message)

        report_invalid_spec()
    return dag


def all_dags(workflows_dir: Path | None = None) -> dict[str, DAG]:
    """Every DAG of the project by dag_id: warehouse, metrics, and one per workflow spec."""
    from loyalty.paths import WORKFLOWS_DIR
    from loyalty.specs import SpecError, spec_paths

    dags = {"loyalty_warehouse": warehouse_dag(), "loyalty_metrics": metrics_dag()}
    for path in spec_paths(workflows_dir or WORKFLOWS_DIR):
        try:
            dag = workflow_dag(path)
        except SpecError as error:
            log.error("%s", error)
            dag = invalid_spec_dag(path, error)
        dags[dag.dag_id] = dag
    return dags
