"""Run the suites against the warehouse and record what they found.

raw.quality_results is created by plugins/loyalty/sql/schema.sql. Data is read with one SQL query
per check into a pandas DataFrame and validated by an ephemeral Great Expectations context (no GX
project on disk; nothing at import time).
"""

from __future__ import annotations

import datetime as dt
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from loyalty.specs import WorkflowSpec, load_spec
from loyalty.warehouse import connect

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


def _validate(frame, suite) -> list[_Outcome]:
    from loyalty.quality.suites import great_expectations

    gx, _ = great_expectations()
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = {"globally": False}
    source = context.data_sources.add_pandas(name="loyalty")
    batch = source.add_dataframe_asset(name=suite.name).add_batch_definition_whole_dataframe("whole")
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(gx.ValidationDefinition(name=suite.name, data=batch, suite=suite))
    result = definition.run(batch_parameters={"dataframe": frame}, result_format={"result_format": "COMPLETE"})
    outcomes = []
    for item in result.results:
        kwargs = {k: v for k, v in item.expectation_config.kwargs.items() if k != "batch_id"}
        observed = item.result.get("observed_value")
        outcomes.append(
            _Outcome(
                expectation_type=item.expectation_config.type,
                column=kwargs.get("column"),
                success=bool(item.success),
                element_count=item.result.get("element_count"),
                unexpected_count=item.result.get("unexpected_count"),
                unexpected_index_list=list(item.result.get("unexpected_index_list") or []),
                details=json.loads(json.dumps({"kwargs": kwargs, "observed_value": observed}, default=str)),
            )
        )
    return outcomes


def _record(conn: psycopg.Connection, run_date: dt.date, suite_name: str, outcomes: list[_Outcome]) -> None:
    with conn.cursor() as cur:
        cur.executemany(
            """insert into raw.quality_results
                   (run_date, suite_name, expectation_type, column_name, is_success, element_count,
                    unexpected_count, details)
               values (%s, %s, %s, %s, %s, %s, %s, %s)""",
            [
                (
                    run_date,
                    suite_name,
                    o.expectation_type,
                    o.column,
                    o.success,
                    o.element_count,
                    o.unexpected_count,
                    json.dumps(o.details),
                )
                for o in outcomes
            ],
        )


def _frame(conn: psycopg.Connection, query: str, params: dict[str, Any] | None = None):
    import pandas as pd

    cursor = conn.execute(query, params)
    columns = [c.name for c in cursor.description]
    return pd.DataFrame(cursor.fetchall(), columns=columns)


AUDIENCE_SQL = """
select
    sends.send_id,
    sends.customer_id,
    sends.step_id,
    sends.channel,
    sends.recipient,
    case when sends.channel = 'email' then sends.recipient end as email_recipient,
    case when sends.channel = 'sms' then sends.recipient end as sms_recipient,
    coalesce(case sends.channel
        when 'email' then customers.email_consent
        when 'sms' then customers.sms_consent
        when 'push' then customers.push_consent
    end, false) as has_consent,
    exists (
        select 1 from loyalty.contactability as contact
        where contact.channel = sends.channel
            and contact.address = case when sends.channel = 'email' then lower(sends.recipient) else sends.recipient end
            and not contact.is_contactable
    ) as is_suppressed
from loyalty.send_ledger as sends
left join raw.customers as customers
    on sends.customer_id = customers.customer_id
where sends.workflow_id = %(workflow_id)s
    and sends.run_date = %(run_date)s
    and sends.status = 'pending'
    and sends.channel <> 'reward'
order by sends.send_id
"""

AUDIENCE_HISTORY_SQL = """
select run_date, count(*) as messages
from loyalty.send_ledger
where workflow_id = %(workflow_id)s
    and run_date < %(run_date)s
    and channel <> 'reward'
    and status in ('pending', 'sending', 'sent', 'failed', 'unknown')
group by run_date
order by run_date desc
limit %(runs)s
"""


def _size_band(history: list[int]) -> tuple[int, int] | None:
    if len(history) < AUDIENCE_MIN_HISTORY:
        return None
    median = statistics.median(history)
    low, high = AUDIENCE_SIZE_BAND
    return int(median * low), int(median * high) + 1


def check_audience(url: str, spec: WorkflowSpec | Path | str, run_date: dt.date) -> AudienceCheck:
    """Validate the messages one workflow planned for `run_date` (ledger rows still `pending`),
    between planning and sending: size within [0.2, 5] × the median of its last 28 runs (once it
    has 3), every recipient present, not opted out or suppressed (loyalty.contactability), with
    consent on the channel (raw.customers), valid email / E.164 addresses, one message per customer
    and step. Results go to raw.quality_results (suite `audience_<workflow>`). An empty audience
    passes (nothing would be sent)."""
    if not isinstance(spec, WorkflowSpec):
        spec = load_spec(Path(spec))
    params = {"workflow_id": spec.id, "run_date": run_date, "runs": AUDIENCE_HISTORY_RUNS}
    with connect(url) as conn:
        frame = _frame(conn, AUDIENCE_SQL, params)
        if frame.empty:
            return AudienceCheck(True, [], 0)
        history = [row[1] for row in conn.execute(AUDIENCE_HISTORY_SQL, params).fetchall()]
        from loyalty.quality.suites import audience_suite

        suite = audience_suite(spec.id, _size_band(history))
        outcomes = _validate(frame, suite)
        _record(conn, run_date, suite.name, outcomes)
    reasons = [o.reason(suite.name) for o in outcomes if not o.success]
    return AudienceCheck(not reasons, reasons, len(frame))


RAW_SQL = {
    "customers": "select * from raw.customers order by customer_id",
    "orders": """
        select orders.*, exists (
            select 1 from raw.customers as customers where customers.customer_id = orders.customer_id
        ) as has_known_customer
        from raw.orders as orders order by orders.order_id""",
    "order_lines": """
        select lines.*,
            exists (select 1 from raw.orders as orders where orders.order_id = lines.order_id) as has_known_order,
            exists (
                select 1 from raw.products as products where products.product_id = lines.product_id
            ) as has_known_product
        from raw.order_lines as lines order by lines.order_line_id""",
}
RAW_HELPER_COLUMNS = {"has_known_customer", "has_known_order", "has_known_product"}


def check_raw(url: str, run_date: dt.date) -> QualityReport:
    """Validate raw customers, orders and order lines (schema, ranges, uniqueness, referential);
    replace this check's rows in raw.quarantine (rule `expectation:<type>:<column>`) with the rows
    failing now, and record every result in raw.quality_results."""
    from loyalty.quality.suites import raw_suites

    reasons, quarantined = [], 0
    with connect(url) as conn:
        for table, suite in raw_suites().items():
            frame = _frame(conn, RAW_SQL[table])
            outcomes = _validate(frame, suite)
            _record(conn, run_date, suite.name, outcomes)
            source_table = f"raw.{table}"
            conn.execute(
                "delete from raw.quarantine where source_table = %s and rule like 'expectation:%%'", [source_table]
            )
            rows = []
            for outcome in outcomes:
                if outcome.success:
                    continue
                reasons.append(outcome.reason(suite.name))
                rule = f"expectation:{outcome.expectation_type}:{outcome.column or ''}"
                for index in outcome.unexpected_index_list:
                    record = frame.iloc[index].drop(labels=list(RAW_HELPER_COLUMNS & set(frame.columns)))
                    rows.append((source_table, rule, record.to_json(date_format="iso")))
            with conn.cursor() as cur:
                cur.executemany(
                    "insert into raw.quarantine (source_table, rule, row_data) values (%s, %s, %s::jsonb)", rows
                )
            quarantined += len(rows)
    return QualityReport(not reasons, reasons, quarantined)


def check_features(url: str, run_date: dt.date) -> QualityReport:
    """Distribution drift of dim_customers' features on `run_date` against the previous run date
    built: each feature's mean within ±25% of the previous one and its null share no worse than
    5 points. Passes (with nothing to compare) on the first run date."""
    columns = ", ".join(FEATURE_COLUMNS)
    with connect(url) as conn:
        previous_date = conn.execute(
            "select max(run_date) from marts.dim_customers where run_date < %s", [run_date]
        ).fetchone()[0]
        if previous_date is None:
            return QualityReport(True, [])
        previous = _frame(
            conn, f"select {columns} from marts.dim_customers where run_date = %(d)s", {"d": previous_date}
        )
        current = _frame(conn, f"select {columns} from marts.dim_customers where run_date = %(d)s", {"d": run_date})
        stats = {
            column: {
                "mean": float(previous[column].astype(float).mean()),
                "null_share": float(previous[column].isna().mean()),
            }
            for column in FEATURE_COLUMNS
            if previous[column].notna().any()
        }
        from loyalty.quality.suites import features_suite

        suite = features_suite(stats, FEATURE_TOLERANCE)
        outcomes = _validate(current.astype({c: float for c in stats}), suite)
        _record(conn, run_date, suite.name, outcomes)
    reasons = [o.reason(suite.name) for o in outcomes if not o.success]
    return QualityReport(not reasons, reasons)
