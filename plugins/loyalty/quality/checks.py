"""Run the suites against the warehouse and record what they found.

raw.quality_results is created by the migrations (loyalty.migrations). Data is read with one SQL query
per check into pandas DataFrames (the raw tables' windows frame by frame, through a server-side
cursor) and validated by an ephemeral Great Expectations context (no GX project on disk; nothing at
import time).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from loyalty.specs import CHANNEL_CONSENT, WorkflowSpec, load_spec
from loyalty.sql_files import query
from loyalty.warehouse import connect

if TYPE_CHECKING:  # imported where used: pandas and Great Expectations are heavy
    import pandas as pd
    from great_expectations import ExpectationSuite

AUDIENCE_HISTORY_RUNS = 28
AUDIENCE_SIZE_BAND = (0.2, 5.0)  # today's size within [median × 0.2, median × 5] of recent runs
AUDIENCE_MIN_HISTORY = 3
FEATURE_COLUMNS = (
    "order_count",
    "days_since_last_order",
    "average_order_value",
    "tenure_days",
    "churn_risk_score",
    "predicted_clv_365d",
)
FEATURE_TOLERANCE = 0.25


@dataclass(frozen=True)
class AudienceCheck:
    """The audience gate's verdict: send only when `passed`; `reasons` says why not."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    audience_size: int = 0

    def raise_for_failure(self) -> None:
        if not self.passed:
            raise AudienceCheckFailed("; ".join(self.reasons))


class AudienceCheckFailed(RuntimeError):
    """A workflow's planned audience failed its quality gate: do not send it."""


@dataclass(frozen=True)
class QualityReport:
    """A raw or features check's verdict; `reasons` names each failed expectation and its suite."""

    passed: bool
    reasons: list[str] = field(default_factory=list)
    quarantined: int = 0

    def raise_for_failure(self) -> None:
        if not self.passed:
            raise QualityCheckFailed("; ".join(self.reasons))


class QualityCheckFailed(RuntimeError):
    """Data failed a quality gate: what reads it downstream must not run on it."""


@dataclass(frozen=True)
class _Outcome:
    expectation_type: str
    column: str | None
    success: bool
    element_count: int | None
    unexpected_count: int | None
    unexpected_index_list: list[int]
    details: dict[str, Any]

    def reason(self, suite_name: str) -> str:
        where = f"({self.column})" if self.column else ""
        if self.unexpected_count:
            return f"{suite_name}: {self.expectation_type}{where}: {self.unexpected_count} of {self.element_count} rows"
        return f"{suite_name}: {self.expectation_type}{where}: observed {self.details.get('observed_value')}"


def _validate(frame: pd.DataFrame, suite: ExpectationSuite) -> list[_Outcome]:
    """One frame against one suite."""
    return _validator(suite)(frame)


def _validator(suite: ExpectationSuite) -> Callable[[pd.DataFrame], list[_Outcome]]:
    """Validate frames against `suite` in one ephemeral context: a context per frame would keep
    each frame alive (~100 MB per 200,000 raw rows, measured)."""
    from loyalty.quality.suites import great_expectations

    gx, _ = great_expectations()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_pandas(name="loyalty")
    batch = source.add_dataframe_asset(name=suite.name).add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch, suite=suite))

    def validate(frame: pd.DataFrame) -> list[_Outcome]:
        result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
        return [_outcome(item) for item in result.results]

    return validate


def _outcome(item: Any) -> _Outcome:
    kwargs = {k: v for k, v in item.expectation_config.kwargs.items() if k != "batch_id"}
    observed = item.result.get("observed_value")
    return _Outcome(
        expectation_type=item.expectation_config.type,
        column=kwargs.get("column"),
        success=bool(item.success),
        element_count=item.result.get("element_count"),
        unexpected_count=item.result.get("unexpected_count"),
        unexpected_index_list=list(item.result.get("unexpected_index_list") or []),
        details=json.loads(json.dumps({"kwargs": kwargs, "observed_value": observed}, default=str)),
    )


def _record(conn: psycopg.Connection, run_date: dt.date, suite_name: str, outcomes: list[_Outcome]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            query("quality/record_results.sql"),
            [
                {
                    "run_date": run_date,
                    "suite_name": suite_name,
                    "expectation_type": o.expectation_type,
                    "column_name": o.column,
                    "is_success": o.success,
                    "element_count": o.element_count,
                    "unexpected_count": o.unexpected_count,
                    "details": json.dumps(o.details),
                }
                for o in outcomes
            ],
        )


def _frame(
    conn: psycopg.Connection, statement: str | sql.Composed, params: dict[str, Any] | None = None
) -> pd.DataFrame:
    import pandas as pd

    cursor = conn.execute(statement, params)
    columns = [c.name for c in cursor.description or ()]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


def _size_band(history: list[int]) -> tuple[int, int] | None:
    if len(history) < AUDIENCE_MIN_HISTORY:
        return None
    median = statistics.median(history)
    low, high = AUDIENCE_SIZE_BAND
    return int(median * low), int(median * high) + 1


def audience_sql() -> str:
    """The audience gate's query: consent checked by the contact-permission rule the plan applied."""
    return query("quality/audience.sql", structure={"contact_columns": CHANNEL_CONSENT})


def check_audience(url: str, spec: WorkflowSpec | Path | str, run_date: dt.date) -> AudienceCheck:
    """Validate the messages one workflow planned for `run_date` (ledger rows still `pending`),
    between planning and sending: size within [0.2, 5] × the median of its last 28 runs (once it
    has 3; not for a workflow that runs several times a day: an hour's audience follows the
    shop's traffic by the hour, not the previous days' totals), every recipient present, not
    opted out or suppressed (loyalty.contactability), with consent on the channel (raw.customers),
    valid email / E.164 addresses, one message per customer and step. Results go to
    raw.quality_results (suite `audience_<workflow>`). An empty audience passes (nothing would be
    sent)."""
    if not isinstance(spec, WorkflowSpec):
        spec = load_spec(Path(spec))
    params = {"workflow_id": spec.id, "run_date": run_date, "runs": AUDIENCE_HISTORY_RUNS}
    with connect(url) as conn:
        frame = _frame(conn, audience_sql(), params)
        if frame.empty:
            return AudienceCheck(True, [], 0)
        history = [row[1] for row in conn.execute(query("quality/audience_history.sql"), params).fetchall()]
        from loyalty.quality.suites import audience_suite

        suite = audience_suite(spec.id, None if spec.runs_intraday else _size_band(history))
        outcomes = _validate(frame, suite)
        _record(conn, run_date, suite.name, outcomes)
    reasons = [o.reason(suite.name) for o in outcomes if not o.success]
    return AudienceCheck(not reasons, reasons, len(frame))


RAW_HELPER_COLUMNS = {"has_known_customer", "has_known_order", "has_known_product"}
RAW_CHUNK_ROWS = 200_000  # rows per pandas frame: memory stays flat on a table's first, whole-table check
RAW_LOAD_MARGIN = dt.timedelta(hours=1)  # a load that began before the previous check and committed after it


def check_raw(url: str, run_date: dt.date, chunk_rows: int = RAW_CHUNK_ROWS) -> QualityReport:
    """Validate the raw customers, orders and order lines loaded since the previous run date's check
    (every row on a table's first check): schema, ranges, uniqueness (within the window; the primary
    keys hold it across loads) and referential checks. Failing rows go to raw.quarantine (rule
    `expectation:<type>:<column>`), replacing the check's earlier rows of the same window, so a rerun
    never duplicates them; one result per expectation goes to raw.quality_results. Rows are read
    through a server-side cursor in frames of `chunk_rows`."""
    from loyalty.quality.suites import raw_suites

    reasons, quarantined = [], 0
    with connect(url) as conn:
        conn.execute(query("quality/summarize_load_indexes.sql"))
        for table, suite in raw_suites().items():
            found, count = _check_raw_table(conn, run_date, table, suite, chunk_rows)
            reasons += found
            quarantined += count
    return QualityReport(not reasons, reasons, quarantined)


def _check_raw_table(
    conn: psycopg.Connection, run_date: dt.date, table: str, suite: Any, chunk_rows: int
) -> tuple[list[str], int]:
    """One raw table's window: validate it frame by frame, quarantine its failing rows, record it."""
    import pandas as pd

    checked = conn.execute(
        "select max(loaded_through) from raw.quality_checked_loads where suite_name = %s and run_date < %s",
        [suite.name, run_date],
    ).fetchone()
    checked_through = checked[0] if checked else None
    loaded_after = checked_through - RAW_LOAD_MARGIN if checked_through else None
    source_table = f"raw.{table}"
    validate = _validator(suite)
    per_frame: list[list[_Outcome]] = []
    failing_rows, loaded_through, rows_checked = [], checked_through, 0
    with conn.cursor(name=f"quality_{table}") as cursor:
        cursor.execute(query(f"quality/raw_{table}.sql"), {"loaded_after": loaded_after})
        columns = [c.name for c in cursor.description or ()]
        while True:
            rows = cursor.fetchmany(chunk_rows)
            if per_frame and not rows:
                break
            frame = pd.DataFrame(rows, columns=columns)
            outcomes = validate(frame)
            per_frame.append(outcomes)
            failing_rows += _failing_rows(frame, outcomes, source_table)
            if rows:
                newest = frame["loaded_at"].max().to_pydatetime()
                loaded_through = max(loaded_through, newest) if loaded_through else newest
            rows_checked += len(rows)
            if len(rows) < chunk_rows:
                break
    outcomes = _merge(per_frame)
    _record(conn, run_date, suite.name, outcomes)
    conn.execute(query("quality/clear_quarantine.sql"), {"source_table": source_table, "loaded_after": loaded_after})
    with conn.cursor() as cur:
        cur.executemany(query("quality/quarantine_row.sql"), failing_rows)
    conn.execute(
        query("quality/record_checked_load.sql"),
        {
            "suite_name": suite.name,
            "run_date": run_date,
            "loaded_through": loaded_through,
            "rows_checked": rows_checked,
        },
    )
    return [o.reason(suite.name) for o in outcomes if not o.success], len(failing_rows)


def _failing_rows(frame: Any, outcomes: list[_Outcome], source_table: str) -> list[dict[str, Any]]:
    """The source table, rule, row as JSON and its loaded_at of each row that broke an expectation."""
    helpers = list(RAW_HELPER_COLUMNS & set(frame.columns))
    rows = []
    for outcome in outcomes:
        rule = f"expectation:{outcome.expectation_type}:{outcome.column or ''}"
        for index in outcome.unexpected_index_list:
            record = frame.iloc[index]
            row_data = record.drop(labels=helpers).to_json(date_format="iso")
            rows.append(
                {
                    "source_table": source_table,
                    "rule": rule,
                    "row_data": row_data,
                    "source_loaded_at": record["loaded_at"].to_pydatetime(),
                }
            )
    return rows


def _merge(per_frame: list[list[_Outcome]]) -> list[_Outcome]:
    """One outcome per expectation over all frames of a window: failed if any frame failed, counts
    summed, the first failing frame's details."""

    def total(values: list[int | None]) -> int | None:
        present = [v for v in values if v is not None]
        return sum(present) if present else None

    merged = []
    for same in zip(*per_frame, strict=True):
        shown = next((o for o in same if not o.success), same[0])
        merged.append(
            replace(
                shown,
                success=all(o.success for o in same),
                element_count=total([o.element_count for o in same]),
                unexpected_count=total([o.unexpected_count for o in same]),
                unexpected_index_list=[],
            )
        )
    return merged


def _previous_feature_stats(conn: psycopg.Connection, run_date: dt.date) -> dict[str, dict[str, float]]:
    """Each feature's mean and null share on `run_date`, aggregated in the warehouse (only today's
    slice is read into pandas, for the expectations); features with no value at all are left out."""
    aggregates = sql.SQL(", ").join(
        sql.SQL("avg({c})::float8, avg(({c} is null)::int)::float8, count({c})").format(c=sql.Identifier(column))
        for column in FEATURE_COLUMNS
    )
    query = sql.SQL("select {} from marts.dim_customers where run_date = %s").format(aggregates)
    row = conn.execute(query, [run_date]).fetchone()
    assert row is not None  # an aggregate without group by returns one row
    stats = {}
    for index, column in enumerate(FEATURE_COLUMNS):
        mean, null_share, present = row[3 * index : 3 * index + 3]
        if present:
            stats[column] = {"mean": mean, "null_share": null_share}
    return stats


def check_features(url: str, run_date: dt.date) -> QualityReport:
    """Distribution drift of dim_customers' features on `run_date` against the previous run date
    built: each feature's mean within ±25% of the previous one and its null share no worse than
    5 points. Passes (with nothing to compare) on the first run date."""
    columns = ", ".join(FEATURE_COLUMNS)
    with connect(url) as conn:
        previous = conn.execute(
            "select max(run_date) from marts.dim_customers where run_date < %s", [run_date]
        ).fetchone()
        previous_date = previous[0] if previous else None
        if previous_date is None:
            return QualityReport(True, [])
        stats = _previous_feature_stats(conn, previous_date)
        current = _frame(conn, f"select {columns} from marts.dim_customers where run_date = %(d)s", {"d": run_date})
        from loyalty.quality.suites import features_suite

        suite = features_suite(stats, FEATURE_TOLERANCE)
        outcomes = _validate(current.astype({c: float for c in stats}), suite)
        _record(conn, run_date, suite.name, outcomes)
    reasons = [o.reason(suite.name) for o in outcomes if not o.success]
    return QualityReport(not reasons, reasons)
