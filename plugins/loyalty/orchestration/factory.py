"""DAG factory: one Airflow DAG per workflow spec, plus the warehouse and metrics DAGs.

DAG files call these functions and nothing else. Nothing here touches the warehouse or the
network at parse time: tasks import and connect when they run.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.providers.standard.operators.empty import EmptyOperator
from airflow.sdk import DAG, Asset, Param, task

from loyalty.specs import WorkflowSpec, load_spec

if TYPE_CHECKING:  # imported inside the tasks at run time: nothing heavy at DAG parse time
    from airflow.sdk.bases.decorator import Task
    from airflow.sdk.definitions.xcom_arg import XComArg
    from cosmos import ProfileConfig
    from cosmos.operators.local import DbtBuildLocalOperator

    from loyalty.operations import AudienceVerdict, PlanResult

log = logging.getLogger(__name__)

DBT_MANIFEST_ENV = "LOYALTY_DBT_MANIFEST"
WAREHOUSE_ASSET = Asset("loyalty://warehouse/marts")
SENDS_ASSET = Asset("loyalty://ledger/sends")
RAW_ASSET = Asset("loyalty://warehouse/raw")  # emitted when `loyalty_load` loaded the retailer's files
LOAD_MAPPING_VARIABLE = "loyalty_load_mapping"  # Airflow Variable; else the LOYALTY_LOAD_MAPPING env var
LOAD_MAPPING_ENV = "LOYALTY_LOAD_MAPPING"
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
    moment: dt.datetime = dag_run.logical_date or dag_run.run_after
    return moment.date()


def _profile_config() -> ProfileConfig:
    """dbt's profile from the `loyalty_warehouse` Airflow connection (cosmos maps it)."""
    from cosmos import ProfileConfig
    from cosmos.profiles import PostgresUserPasswordProfileMapping

    from loyalty.orchestration.connections import WAREHOUSE_CONN_ID

    return ProfileConfig(
        profile_name="loyalty",
        target_name="airflow",
        profile_mapping=PostgresUserPasswordProfileMapping(
            conn_id=WAREHOUSE_CONN_ID, profile_args={"schema": "analytics"}
        ),
    )


DBT_VARS = {"run_date": "{{ params.run_date or ds }}"}


def _dbt_build_task(select: list[str] | None, outlets: list[Asset]) -> DbtBuildLocalOperator:
    """One `dbt build` task through cosmos (dbtRunner in-process): fast for daily and simulated runs."""
    from cosmos.constants import InvocationMode
    from cosmos.operators.local import DbtBuildLocalOperator

    from loyalty.paths import DBT_PROJECT_DIR

    return DbtBuildLocalOperator(
        task_id="dbt_build",
        project_dir=str(DBT_PROJECT_DIR),
        profile_config=_profile_config(),
        vars=DBT_VARS,
        select=select,
        invocation_mode=InvocationMode.DBT_RUNNER,
        emit_datasets=False,
        install_deps=False,
        outlets=outlets,
    )


def _dbt_model_tasks(manifest: Path) -> None:
    """One task per dbt model, rendered by cosmos from a manifest compiled at build time
    (`loyalty dbt-manifest`): per-model retries and timings in the UI, no dbt at parse time."""
    from cosmos import DbtTaskGroup, ExecutionConfig, ProjectConfig, RenderConfig
    from cosmos.constants import ExecutionMode, InvocationMode, LoadMode

    from loyalty.paths import DBT_PROJECT_DIR

    DbtTaskGroup(
        group_id="dbt",
        project_config=ProjectConfig(dbt_project_path=DBT_PROJECT_DIR, manifest_path=manifest, install_dbt_deps=False),
        profile_config=_profile_config(),
        render_config=RenderConfig(load_method=LoadMode.DBT_MANIFEST),
        execution_config=ExecutionConfig(execution_mode=ExecutionMode.LOCAL, invocation_mode=InvocationMode.DBT_RUNNER),
        operator_args={"vars": DBT_VARS, "emit_datasets": False},
    )


def _check_raw_task() -> XComArg:
    @task(task_id="check_raw")
    def check_raw(**context: Any) -> dict[str, Any]:
        """Great Expectations on the raw tables before dbt: every result in raw.quality_results,
        failing rows in raw.quarantine with the expectation. Reports; does not stop the build (the
        dbt contract decides which rows reach the marts)."""
        from dataclasses import asdict

        from loyalty.orchestration.connections import warehouse_url
        from loyalty.quality import check_raw

        report = check_raw(warehouse_url(), run_date_of(context))
        for reason in report.reasons:
            log.warning("raw data: %s", reason)
        return asdict(report)

    return check_raw()


def _check_features_task() -> XComArg:
    @task(task_id="check_features", outlets=[WAREHOUSE_ASSET])
    def check_features(**context: Any) -> dict[str, Any]:
        """Great Expectations drift check of today's features against the previous run date: a
        failure stops here without retries, so the workflow DAGs (scheduled on this task's Asset) do not select
        audiences from broken features; the log says which feature moved and how far."""
        from dataclasses import asdict

        from airflow.sdk.exceptions import AirflowFailException

        from loyalty.orchestration.connections import warehouse_url
        from loyalty.quality import QualityCheckFailed, check_features

        report = check_features(warehouse_url(), run_date_of(context))
        try:
            report.raise_for_failure()
        except QualityCheckFailed as failure:  # the data, not the machine: retrying cannot help
            raise AirflowFailException(f"feature drift: {failure}") from failure
        return asdict(report)

    return check_features()


def warehouse_dag() -> DAG:
    """check_raw -> dbt build of the whole project -> check_features, whose Asset starts the
    workflow DAGs."""
    with DAG(
        dag_id="loyalty_warehouse",
        schedule="@daily",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loyalty", "warehouse", "dbt"],
        default_args={"owner": "data-platform", **DEFAULT_ARGS},
        params=RUN_PARAMS,
        doc_md=(
            "Checks the raw tables with Great Expectations (`check_raw`: results in raw.quality_results, "
            "failing rows quarantined), builds the dbt project (staging, customer features, segments, "
            "eligibility) as of the run date with astronomer-cosmos, then checks the features for drift "
            "against the previous run date (`check_features`). Only a passing `check_features` emits the "
            "Asset that starts the workflow DAGs. Default: one `dbt build` task. With `LOYALTY_DBT_MANIFEST` "
            "pointing at a manifest compiled at build time (`loyalty dbt-manifest`), one task per model instead."
        ),
    ) as dag:
        raw_checked = _check_raw_task()
        manifest = os.environ.get(DBT_MANIFEST_ENV)
        if manifest:
            _dbt_model_tasks(Path(manifest))
            roots = [t for t in dag.roots if t.task_id != "check_raw"]
            leaves = [t for t in dag.leaves if t.task_id != "check_raw"]
            raw_checked >> roots
            marts_built = EmptyOperator(task_id="marts_built")
            leaves >> marts_built
            built = marts_built
        else:
            built = _dbt_build_task(None, [])
            raw_checked >> built
        built >> _check_features_task()
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
        doc_md=(
            "Rebuilds the metric marts (funnel, conversions, lift with confidence intervals) and the data "
            "quality results (the day's audience checks land after the warehouse build)."
        ),
    ) as dag:
        _dbt_build_task(["+path:models/marts/metrics", "+data_quality_results"], [])
    return dag


def load_dag() -> DAG:
    """Scheduled `loyalty load`: the mapping from the Airflow Variable `loyalty_load_mapping` or the
    LOYALTY_LOAD_MAPPING env var (read when the task runs, never at parse time)."""
    with DAG(
        dag_id="loyalty_load",
        schedule="@hourly",
        start_date=START_DATE,
        catchup=False,
        max_active_runs=1,
        tags=["loyalty", "load", "raw"],
        default_args={"owner": "data-platform", **DEFAULT_ARGS},
        doc_md=(
            "Loads the retailer's files or source tables into the raw tables with `loyalty load` (the mapping "
            f"file named by the Variable `{LOAD_MAPPING_VARIABLE}` or `{LOAD_MAPPING_ENV}`): streamed, bad rows "
            "quarantined with file, line, column and reason, each file once (by checksum) and whole or not at "
            "all, so a retry or a re-run never loads twice. Skips when no mapping is configured; emits "
            f"`{RAW_ASSET.uri}` after a load. A wrong mapping fails without retries (fix the file)."
        ),
    ) as dag:
        _load_task()
    return dag


def _load_task() -> XComArg:
    @task(task_id="load", outlets=[RAW_ASSET])
    def load() -> dict[str, Any]:
        """Every source of the mapping, in dependency order; the per-source summary in the log and XCom."""
        from airflow.sdk import Variable
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from loyalty.loader import MappingError, SourceError
        from loyalty.loader import load as load_mapping
        from loyalty.orchestration.connections import warehouse_url

        path = Variable.get(LOAD_MAPPING_VARIABLE, default=None) or os.environ.get(LOAD_MAPPING_ENV)
        if not path:
            raise AirflowSkipException(f"no mapping: set the Variable {LOAD_MAPPING_VARIABLE} or {LOAD_MAPPING_ENV}")
        try:
            report = load_mapping(Path(path), warehouse_url())
        except MappingError as error:  # the mapping, not the machine: retrying cannot help
            raise AirflowFailException(str(error)) from error
        except SourceError as error:  # a source database down or a file being written: worth a retry
            raise RuntimeError(str(error)) from error
        return report.as_dict()  # loyalty.loader.run logged one line per source

    return load()


def _doc_md(spec: WorkflowSpec) -> str:
    from loyalty.specs import compile_journey

    variants = ", ".join(f"{v.id} ({v.weight:.0%})" for v in spec.experiment.variants)
    steps = "\n".join(
        f"- `{a.step_id}`: {a.kind} by {' → '.join(a.channels)}"
        + (f", {a.delay_days} days after {' or '.join(a.parents) or 'entry'}" if a.delay_days else "")
        + (f", if {'not ' if a.condition[1] else ''}{a.condition[0]}" if a.condition else "")
        + (f", once {a.until[0]} (within {a.until[1]} days)" if a.until else "")
        for a in compile_journey(spec)
    )
    objective = (
        f"- Objective: {spec.objective.metric} ≥ {spec.objective.target:g} by {spec.objective.deadline}\n"
        if spec.objective
        else ""
    )
    return (
        f"## {spec.name}\n\n{spec.description}\n\n{objective}"
        f"- Audience: `{spec.audience.schema_}.{spec.audience.model}`\n"
        f"- Holdout: {spec.experiment.holdout_pct:.0%}; variants: {variants}\n"
        f"- Exit on: {', '.join(spec.exit_on) or 'nothing'}; attribution window: {spec.attribution_window_days} days\n"
        f"- Params: `run_date` (default: the logical date), `dry_run` (plan and render, send nothing)\n\n"
        f"### Steps\n{steps}\n"
    )


def workflow_dag(spec_path: Path) -> DAG:
    """plan -> batches -> send_<channel> (mapped per batch, one pool per channel) -> summarize."""
    spec = load_spec(spec_path)
    schedule: Any = [WAREHOUSE_ASSET] if spec.schedule == "warehouse" else spec.schedule
    with DAG(
        dag_id=spec.id,
        schedule=schedule,
        start_date=dt.datetime.combine(spec.start_date, dt.time(), tzinfo=dt.UTC),
        catchup=False,
        max_active_runs=1,
        tags=["loyalty", "workflow", *spec.tags],
        default_args={"owner": spec.owner, **DEFAULT_ARGS},
        params={**RUN_PARAMS, "dry_run": Param(False, type="boolean", description="Plan and render; send nothing")},
        doc_md=_doc_md(spec),
    ) as dag:
        _workflow_tasks(spec_path, spec.channels())
    return dag


def _workflow_tasks(spec_path: Path, channels: list[str]) -> None:
    @task(task_id="plan")
    def plan(**context: Any) -> PlanResult:
        """Enter today's audience, then plan every due step (holdout, variants, channel, policies)."""
        from loyalty import operations
        from loyalty.orchestration.connections import channel_sender_if_configured, warehouse_url

        dry_run = bool(context["params"].get("dry_run"))
        result = operations.plan_run(
            spec_path,
            warehouse_url(),
            run_date_of(context),
            context["run_id"],
            dry_run,
            sender_for=channel_sender_if_configured,
        )
        log.info("plan: %s", result)
        return result

    @task(task_id="summarize", outlets=[SENDS_ASSET], trigger_rule="all_done")
    def summarize(planned: PlanResult, **context: Any) -> dict[str, dict[str, int]]:
        """Per-step counts for the run, in the task log and loyalty.workflow_runs."""
        from loyalty import operations
        from loyalty.orchestration.connections import warehouse_url

        return operations.summarize(spec_path, warehouse_url(), run_date_of(context), context["run_id"], planned)

    @task(task_id="check_audience")
    def check_audience(planned: PlanResult, **context: Any) -> AudienceVerdict:
        """Great Expectations gate: a failing audience is not sent, and the log says why."""
        from loyalty import operations
        from loyalty.orchestration.connections import warehouse_url

        if planned.get("dry_run"):
            return {"passed": True, "dry_run": True}
        return operations.check_audience(spec_path, warehouse_url(), run_date_of(context))

    planned = plan()
    gate = check_audience(planned)  # type: ignore[arg-type]  # Airflow's Task types can't say "or its XComArg"
    done = summarize(planned)  # type: ignore[arg-type]  # (same: the plan's result, resolved at run time)
    for channel in channels:
        batch_ids = _batches_task(spec_path, channel)(planned)
        gate >> batch_ids
        _send_task(spec_path, channel).expand(batch_id=batch_ids) >> done
    gate >> done


def _batches_task(spec_path: Path, channel: str) -> Task[..., list[str]]:
    @task(task_id=f"batches_{channel}")
    def batches(planned: PlanResult, **context: Any) -> list[str]:
        """Group pending rows into provider-sized batches; one mapped send task each (none on a dry run)."""
        from loyalty import operations
        from loyalty.orchestration.connections import warehouse_url

        if planned.get("dry_run"):
            return []
        return operations.batches(spec_path, warehouse_url(), run_date_of(context)).get(channel, [])

    return batches


def _send_task(spec_path: Path, channel: str) -> Task[..., dict[str, int]]:
    @task(task_id=f"send_{channel}", pool=channel, map_index_template="{{ task.op_kwargs['batch_id'] }}")
    def send(batch_id: str) -> dict[str, int]:
        """Send one batch through the channel's real client; record provider ids and outcomes.
        Rows a killed attempt left in `sending` are reconciled first; rows back to pending fail
        the task so that Airflow's retry sends them."""
        from loyalty import operations
        from loyalty.orchestration.connections import channel_sender, warehouse_url

        # mypy reads **{str: ...} as maybe `grace_seconds`; the one key is a channel name (email, sms, push)
        sender = {channel: channel_sender(channel)}
        return operations.send(spec_path, warehouse_url(), batch_id, **sender)  # type: ignore[arg-type]

    return send


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
    """Every DAG of the project by dag_id: load, warehouse, metrics, and one per workflow spec."""
    from loyalty.paths import WORKFLOWS_DIR
    from loyalty.specs import SpecError, spec_paths

    dags = {"loyalty_warehouse": warehouse_dag(), "loyalty_metrics": metrics_dag(), "loyalty_load": load_dag()}
    for path in spec_paths(workflows_dir or WORKFLOWS_DIR):
        try:
            dag = workflow_dag(path)
        except SpecError as error:
            log.error("%s", error)
            dag = invalid_spec_dag(path, error)
        dags[dag.dag_id] = dag
    return dags
