"""The dbt project's SQL is SQLFluff-clean under dbt_project/.sqlfluff (the dbt templater compiles
each model against a real warehouse, so this is an integration test): every model and snapshot, and the
SQL every macro of dbt_project/macros produces."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest

from loyalty.paths import DBT_PROJECT_DIR
from loyalty.warehouse import dbt_env

pytestmark = pytest.mark.integration

SQLFLUFF = Path(sys.executable).with_name("sqlfluff")
DBT = Path(sys.executable).with_name("dbt")
# Every folder of models, and the snapshots.
LINTED = ["models", "snapshots"]


def test_sql_is_sqlfluff_clean(warehouse_url: str, tmp_path: Path) -> None:
    env = {**os.environ, **dbt_env(warehouse_url), "DBT_TARGET_PATH": str(tmp_path / "target")}
    result = subprocess.run(
        [str(SQLFLUFF), "lint", *LINTED, "--format", "json", "--processes", "2", "--disable-progress-bar"],
        cwd=DBT_PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.stdout, result.stderr[-2000:]
    violations = [
        f"{report['filepath']}:{violation['start_line_no']} {violation['code']} {violation['description']}"
        for report in json.loads(result.stdout)
        for violation in report["violations"]
    ]
    assert violations == []


# Macros. SQLFluff lints no macro file on its own (the dbt templater skips one "because it is a macro"; the
# jinja templater renders a file of definitions to nothing), and in a model it ignores whatever a macro
# rendered (a templated area). With `ignore_templated_areas = False` the models' lint would check it, but
# its 347 findings are not the macros': 309 quoted relation names from ref()/source(), 38 in what dbt's own
# macros render in the models (`numeric(28,6)`, `TEXT`, dbt.datediff's blank lines). So every macro is
# called here with representative arguments, placed as the models place it (an expression or columns in
# a CTE's select, a condition, a CTE's query, a from item, a statement), inside a tiny model of a copy of
# the project; one `dbt compile` renders them all (on a first build, and after a build: is_incremental()
# true, previous state read), and the compiled SQL is linted with dbt_project/.sqlfluff's rules as plain
# text. Not layout.indent: a macro's continuation lines cannot know how deep a caller (often another macro:
# newcombe → wilson → proportion) renders it. The copy renders relations unquoted (`quoting:`), as dbt's
# quoting is not the macros' style. A new macro needs a rendering here (test_every_macro_is_rendered).
EXPRESSION = (
    "with macro_output as (\n\n    select\n        {call} as macro_output,\n        true as is_rendered\n"
    "    from macro_inputs\n\n)\n\nselect * from macro_output\n"
)
COLUMNS = (
    "with macro_output as (\n\n    select\n        {call}\n    from macro_inputs\n\n)\n\nselect * from macro_output\n"
)
CONDITION = (
    "with macro_output as (\n\n    select macro_inputs.customer_id\n    from macro_inputs\n    where {call}\n\n)\n\n"
    "select * from macro_output\n"
)
QUERY = "with macro_output as (\n\n    {call}\n\n)\n\nselect * from macro_output\n"
FROM = "select * from {call}\n"
STATEMENT = "{call}\n"

PREVIOUS_BUILD = "loyalty.previous_run_date(), loyalty.previous_inputs_loaded_through()"
TWO_ARMS = "'successes_1', 'trials_1', 'successes_2', 'trials_2'"
WELCH = "'n1', 'total1', 'squares1', 'n2', 'total2', 'squares2'"
MBG_NBD = "'macro_inputs.repeat_orders', 'macro_inputs.days_first_to_run_date', parameters='macro_inputs'"
RENDERINGS: list[tuple[str, str]] = [
    # carry_forward.sql
    (EXPRESSION, "loyalty.previous_run_date()"),
    (EXPRESSION, "loyalty.previous_inputs_loaded_through()"),
    (EXPRESSION, "loyalty.timestamp_with_time_zone_literal('2026-06-01 00:00:00+00')"),
    (EXPRESSION, "loyalty.default__timestamp_with_time_zone_literal('2026-06-01 00:00:00+00')"),
    (EXPRESSION, "loyalty.postgres__timestamp_with_time_zone_literal(none)"),
    (CONDITION, f"loyalty.order_changes_customer('macro_inputs', {PREVIOUS_BUILD}, [90, 365])"),
    (CONDITION, "loyalty.recomputing_everyone(loyalty.previous_run_date())"),
    (
        CONDITION,
        "loyalty.loaded_since_previous_build('macro_inputs.loaded_at', loyalty.previous_inputs_loaded_through())",
    ),
    (QUERY, f"loyalty.customers_to_recompute({PREVIOUS_BUILD}, 'orders', 'customers', 'order_lines', [90, 365])"),
    (QUERY, f"loyalty.customers_to_recompute({PREVIOUS_BUILD}, 'orders', 'customers')"),
    # churn.sql
    (
        EXPRESSION,
        "loyalty.mbg_nbd_p_alive('macro_inputs.repeat_orders', 'macro_inputs.days_first_to_last',"
        " 'macro_inputs.days_first_to_run_date', parameters='macro_inputs')",
    ),
    (EXPRESSION, f"loyalty.mbg_nbd_p_order_within(365, 'macro_inputs.p_alive', {MBG_NBD})"),
    (EXPRESSION, f"loyalty.mbg_nbd_expected_orders_within(365, 'macro_inputs.p_alive', {MBG_NBD})"),
    # confidence_intervals.sql
    (EXPRESSION, "loyalty.proportion('successes', 'trials')"),
    (EXPRESSION, "loyalty.wilson_center('successes', 'trials', 1.959964)"),
    (EXPRESSION, "loyalty.wilson_half_width('successes', 'trials', 1.959964)"),
    (EXPRESSION, "loyalty.wilson_lower('successes', 'trials')"),
    (EXPRESSION, "loyalty.wilson_upper('successes', 'trials')"),
    (EXPRESSION, f"loyalty.newcombe_lower({TWO_ARMS})"),
    (EXPRESSION, f"loyalty.newcombe_upper({TWO_ARMS})"),
    (EXPRESSION, "loyalty.round_rate('conversion_rate')"),
    (EXPRESSION, "loyalty.normal_cdf('statistic')"),
    (EXPRESSION, "loyalty.chi_square_p_value('statistic', 'degrees')"),
    (EXPRESSION, "loyalty.t_quantile_975('degrees')"),
    (EXPRESSION, "loyalty.sample_variance('n', 'total', 'sum_of_squares')"),
    (EXPRESSION, f"loyalty.welch_standard_error({WELCH})"),
    (EXPRESSION, f"loyalty.welch_degrees({WELCH})"),
    (EXPRESSION, f"loyalty.katz_lower({TWO_ARMS})"),
    (EXPRESSION, f"loyalty.katz_upper({TWO_ARMS})"),
    (EXPRESSION, f"loyalty.minimum_detectable_effect({TWO_ARMS})"),
    (EXPRESSION, "loyalty.net_promoter_score('promoters', 'detractors', 'responses')"),
    (EXPRESSION, "loyalty.net_promoter_score_half_width('promoters', 'detractors', 'responses')"),
    # contact_columns.sql
    (COLUMNS, "loyalty.contact_columns('macro_inputs')"),
    (COLUMNS, "loyalty.audience_columns('macro_inputs', loyalty.date_to_iso_string('macro_inputs.run_date'))"),
    # contact_permission.sql
    (EXPRESSION, "loyalty.channel_has_consent('macro_inputs.email_consent', 'macro_inputs.email')"),
    (
        EXPRESSION,
        "loyalty.channel_is_contactable('macro_inputs.email_consent', 'macro_inputs.email',"
        " 'macro_inputs.is_email_suppressed')",
    ),
    # dates.sql
    (EXPRESSION, "loyalty.utc_date('ordered_at')"),
    (EXPRESSION, "loyalty.default__utc_date('ordered_at')"),
    (EXPRESSION, "loyalty.postgres__utc_date('ordered_at')"),
    (EXPRESSION, "loyalty.duckdb__utc_date('ordered_at')"),
    (EXPRESSION, "loyalty.date_to_iso_string('ordered_date')"),
    (EXPRESSION, "loyalty.default__date_to_iso_string('ordered_date')"),
    (EXPRESSION, "loyalty.postgres__date_to_iso_string('ordered_date')"),
    # features.sql
    (EXPRESSION, "loyalty.lapse_threshold_days('expected_interpurchase_days')"),
    (EXPRESSION, "loyalty.quintile_score('value_rank', 'row_count')"),
    (EXPRESSION, "loyalty.rank_of_value_group('lifetime_revenue')"),
    # generate_schema_name.sql
    (FROM, "generate_schema_name('marts', model) ~ '.macro_inputs'"),
    (FROM, "generate_schema_name(none, model) ~ '.macro_inputs'"),
    # incremental.sql
    (CONDITION, "loyalty.loaded_since_last_run('macro_inputs.loaded_at')"),
    (QUERY, "loyalty.rows_to_revalidate('orders', 'order_id')"),
    (STATEMENT, "loyalty.index_quarantined_rows('order_id')"),
    (STATEMENT, "loyalty.default__index_quarantined_rows('order_id')"),
    (STATEMENT, "loyalty.postgres__index_quarantined_rows('order_id')"),
    (STATEMENT, "loyalty.analyze_table(this)"),
    (STATEMENT, "loyalty.default__analyze_table(this)"),
    (STATEMENT, "loyalty.postgres__analyze_table(this)"),
    (STATEMENT, "loyalty.delete_rows_missing_from('macro_lint.macro_source', 'order_id')"),
    (FROM, "loyalty.get_where_subquery('macro_inputs')"),
    (
        CONDITION,
        "loyalty.resolve_test_placeholders("
        "'macro_inputs.ordered_date <= __run_date__ and __loaded_since_previous_build__')",
    ),
    (CONDITION, "loyalty.loaded_since_previous_build_condition('loaded_at')"),
    # median.sql
    (EXPRESSION, "loyalty.median('order_total')"),
    (EXPRESSION, "loyalty.default__median('order_total')"),
    # points.sql
    (COLUMNS, "loyalty.points_totals('net_points')"),
    # run_date.sql
    (EXPRESSION, "loyalty.run_date()"),
    # summarize_load_indexes.sql
    (STATEMENT, "loyalty.summarize_load_indexes()"),
    (STATEMENT, "loyalty.default__summarize_load_indexes()"),
    (STATEMENT, "loyalty.postgres__summarize_load_indexes()"),
    # types.sql
    (EXPRESSION, "'cast(order_total as ' ~ loyalty.duckdb__type_float() ~ ')'"),
    # validation.sql (bigquery__ and duckdb__ are linted in their warehouse's dialect)
    (EXPRESSION, "loyalty.regexp_matches('email', '^[a-z]+$')"),
    (EXPRESSION, "loyalty.default__regexp_matches('email', '^[a-z]+$')"),
    (EXPRESSION, "loyalty.postgres__regexp_matches('email', '^[a-z]+$')"),
    (EXPRESSION, "loyalty.bigquery__regexp_matches('email', '^[a-z]+$')"),
    (EXPRESSION, "loyalty.duckdb__regexp_matches('email', '^[a-z]+$')"),
    (EXPRESSION, "loyalty.is_well_formed_email('email')"),
    (EXPRESSION, "loyalty.is_well_formed_phone('phone')"),
    (EXPRESSION, "loyalty.is_well_formed_push_token('push_token')"),
    (EXPRESSION, "loyalty.is_in_the_future('ordered_at', 'loaded_at')"),
]
# Macros that hand a value back to Jinja, not SQL (the SQL of the macros using it is linted above).
RETURN_VALUES = {"previous_build_value", "previous_build_loaded_through"}
MACRO = re.compile(r"\{%-?\s*macro\s+(\w+)\s*\(")
# The generated models' config: incremental, so both states render; `where` for get_where_subquery.
CONFIG = "{{ config(materialized='incremental', schema='macro_lint', where='ordered_date <= __run_date__') -}}\n"
STATES = ("first build", "after a build")


def render_macros(warehouse_url: str, work: Path) -> dict[str, str]:
    """(label: compiled SQL) of every rendering in RENDERINGS, on a first build and after a build."""
    project = work / "dbt_project"
    shutil.copytree(DBT_PROJECT_DIR, project, ignore=shutil.ignore_patterns("target", "logs", "dbt_packages"))
    with (project / "dbt_project.yml").open("a") as config:
        config.write("\nquoting:\n  database: false\n  schema: false\n  identifier: false\n")
    models = project / "models" / "macro_lint"
    models.mkdir()
    labels = {}
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop schema if exists macro_lint cascade")
        conn.execute("create schema macro_lint")
        conn.execute("create table macro_lint.macro_source (order_id bigint)")  # empty: rows to delete
        for index, (wrapper, call) in enumerate(RENDERINGS):
            for state in STATES:
                name = f"macro_{index:02d}_{state.replace(' ', '_')}"
                labels[name] = f"{call} ({state})"
                (models / f"{name}.sql").write_text(CONFIG + wrapper.format(call="{{ " + call + " }}"))
                if state == "after a build":  # the model's table exists, with a previous build's state
                    conn.execute(
                        f"create table macro_lint.{name} as select date '2026-05-31' as computed_for_run_date,"
                        " timestamptz '2026-05-31 06:00:00+00' as inputs_loaded_through,"
                        " timestamptz '2026-05-31 06:00:00+00' as loaded_at"
                    )
    env = {**os.environ, **dbt_env(warehouse_url), "DBT_TARGET_PATH": str(work / "target")}
    command = ["compile", "--select", "path:models/macro_lint", "--profiles-dir", ".", "--quiet"]
    result = subprocess.run(
        [str(DBT), *command, "--vars", "{run_date: 2026-06-01}"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    with psycopg.connect(warehouse_url, autocommit=True) as conn:
        conn.execute("drop schema macro_lint cascade")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    compiled = work / "target" / "compiled" / "loyalty" / "models" / "macro_lint"
    rendered = {}
    for name, label in labels.items():
        path = compiled / f"{name}.sql"
        rendered[label] = path.read_text() if path.exists() else ""  # dbt writes no file for an empty model
    return rendered


def lint_renderings(rendered: dict[str, str]) -> list[str]:
    """SQLFluff's findings in each distinct, non-empty rendering, with the line they are on."""
    from sqlfluff.core import FluffConfig, Linter

    project_config = FluffConfig.from_path(str(DBT_PROJECT_DIR))
    excluded = ",".join([*project_config.get("exclude_rules").split(","), "layout.indent"])
    linters = {
        dialect: Linter(
            config=FluffConfig.from_path(
                str(DBT_PROJECT_DIR),
                overrides={"templater": "raw", "dialect": dialect, "exclude_rules": excluded},
            )
        )
        for dialect in ("postgres", "bigquery", "duckdb")
    }
    found, seen = [], set()
    for label, text in rendered.items():
        if not text.strip() or text in seen:
            continue
        seen.add(text)
        text = text.rstrip("\n") + "\n"  # dbt drops the model's final newline
        lines = text.splitlines()
        dialect = next((name for name in ("bigquery", "duckdb") if f"{name}__" in label), "postgres")
        linter = linters[dialect]
        for violation in linter.lint_string(text, fname=label).get_violations():
            line = lines[violation.line_no - 1] if 0 < violation.line_no <= len(lines) else ""
            found.append(f"{label}:{violation.line_no} {violation.rule_code()} {violation.desc()}\n    {line}")
    return found


def test_every_macro_is_rendered() -> None:
    """Every macro in dbt_project/macros is called by a rendering (or hands a value back to Jinja)."""
    defined = {name for path in (DBT_PROJECT_DIR / "macros").glob("*.sql") for name in MACRO.findall(path.read_text())}
    called = {name for _, call in RENDERINGS for name in re.findall(r"(\w+)\(", call)}
    assert defined - RETURN_VALUES - called == set()
    assert defined >= RETURN_VALUES


def test_macro_sql_is_sqlfluff_clean(warehouse_url: str, tmp_path: Path) -> None:
    """The SQL each macro renders follows the project's SQLFluff rules (a violation in a macro fails here)."""
    rendered = render_macros(warehouse_url, tmp_path)
    assert len(set(rendered.values())) > len(RENDERINGS)  # both states rendered, not one broken template
    assert lint_renderings(rendered) == []
