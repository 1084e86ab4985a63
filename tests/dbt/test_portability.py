"""Model SQL uses only dbt's cross-database macros and the project's adapter-dispatched macros:
Postgres-only syntax may appear in macros/ (inside a `postgres__` implementation), never in models,
snapshots or tests, so the project can target another adapter by adding macro implementations.

The proof with a second adapter: the whole project compiles for DuckDB (dbt-duckdb, the `duckdb` target of
profiles.yml), and the compiled SQL carries the DuckDB implementations of the dispatched macros, none of the
Postgres ones (docs/warehouses.md)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from loyalty.dbt import dbt_args
from loyalty.paths import DBT_PROJECT_DIR

if TYPE_CHECKING:
    from dbt.cli.main import dbtRunnerResult

SQL_FILES = sorted(
    path
    for folder in ("models", "snapshots", "tests", "analyses")
    for path in (DBT_PROJECT_DIR / folder).rglob("*.sql")
    if "generic" not in path.parts
)

FORBIDDEN = {
    "cast with ::": r"::",
    "interval literal": r"\binterval\s*'",
    "date_trunc (use dbt.date_trunc)": r"(?<![.\w])date_trunc\s*\(",
    "date_part / extract (use dbt.datediff or a dispatched macro)": r"\b(date_part|extract)\s*\(",
    "regex operator (use loyalty.regexp_matches)": r"[!]?~\*?\s*'",
    "ilike": r"\bilike\b",
    "to_char / to_date (use loyalty.date_to_iso_string)": r"\bto_(char|date)\s*\(",
    "database clock (use loyalty.run_date)": r"\b(now\s*\(|current_date\b|current_timestamp\b)",
    "at time zone (use loyalty.utc_date)": r"\bat\s+time\s+zone\b",
    "json operators": r"->>?|\bjsonb?\b",
    "generate_series (use dbt.generate_series)": r"(?<![.\w])generate_series\s*\(",
    "distinct on": r"\bdistinct\s+on\b",
    "hard-coded schema": r"\b(raw|marts|staging|intermediate|loyalty)\.\w+",
}


def _sql_without_comments(path: Path) -> str:
    text = path.read_text()
    text = re.sub(r"\{#.*?#\}", "", text, flags=re.DOTALL)
    return re.sub(r"--[^\n]*", "", text)


def _sql_without_jinja_operators(text: str) -> str:
    """Inside {{ }} and {% %}: drop Jinja's `~` concatenation and macro names (dbt.date_trunc is fine),
    keep the SQL text passed to macros as strings (it must be portable too)."""

    def clean(match: re.Match[str]) -> str:
        block = re.sub(r"\b(loyalty|dbt|adapter|modules)\.\w+", "", match.group(0))
        block = re.sub(r"\b(ref|source|var|config|load_relation)\([^)]*\)", "", block)
        return block.replace("~", " ")

    return re.sub(r"\{\{.*?\}\}|\{%.*?%\}", clean, text, flags=re.DOTALL)


def _sql_without_string_literals(text: str) -> str:
    return re.sub(r"'[^']*'", "''", text)


def test_there_are_models_to_check() -> None:
    assert len(SQL_FILES) > 20


@pytest.mark.parametrize("path", SQL_FILES, ids=lambda path: str(path.relative_to(DBT_PROJECT_DIR)))
def test_model_sql_is_portable(path: Path) -> None:
    """No Postgres-only syntax outside adapter-dispatched macros."""
    text = _sql_without_jinja_operators(_sql_without_comments(path))
    found = {name: re.findall(pattern, text, flags=re.IGNORECASE) for name, pattern in FORBIDDEN.items()}
    # A schema name inside a string literal ('raw.orders' as a label) is data, not a reference.
    found["hard-coded schema"] = re.findall(
        FORBIDDEN["hard-coded schema"], _sql_without_string_literals(text), flags=re.IGNORECASE
    )
    assert {name: hits for name, hits in found.items() if hits} == {}


def test_postgres_syntax_in_macros_is_dispatched() -> None:
    """Every macro file that uses Postgres-only syntax does so in a postgres__ implementation."""
    for path in (DBT_PROJECT_DIR / "macros").rglob("*.sql"):
        text = _sql_without_comments(path)
        for name, body in re.findall(r"\{%-?\s*macro\s+(\w+)\((.*?)\{%-?\s*endmacro", text, flags=re.DOTALL):
            body = _sql_without_jinja_operators(body)
            if re.search(r"::|\binterval\s*'|\bto_char\(|\bat time zone\b|~ '|\banalyze\b", body, re.IGNORECASE):
                assert name.startswith("postgres__"), f"{path.name}: {name} uses Postgres-only syntax"


# ---------------------------------------------------------------- a second adapter: DuckDB

DUCKDB_TARGET = "duckdb"  # dbt_project/profiles.yml
RUN_DATE = dt.date(2026, 6, 1)
# What the project's postgres__ macros write, none of which DuckDB (or ANSI SQL) reads the same way. dbt-duckdb's
# own datediff casts with `::timestamp` (the adapter's SQL, not ours), so only that cast is allowed.
POSTGRES_ONLY = {
    "cast with :: (other than dbt-duckdb's ::timestamp)": r"::(?!timestamp\b)",
    "at time zone (postgres__utc_date)": r"\bat\s+time\s+zone\b",
    "to_char (postgres__date_to_iso_string)": r"\bto_char\s*\(",
    "regex operator (postgres__regexp_matches)": r"~\*?\s*'",
    "timestamptz (postgres__timestamp_with_time_zone_literal)": r"\btimestamptz\b",
    "interval literal": r"\binterval\s*'",
    "analyze (postgres__analyze_table)": r"^\s*analyze\b",
    "Postgres catalog (postgres__summarize_load_indexes)": r"\bpg_catalog\b|\bbrin_\w+\s*\(",
}
# Models whose SQL goes through the dispatched macros, and what the DuckDB implementation writes there.
DISPATCHED = {
    "model.loyalty.int_customers_validated": "regexp_matches(email, ",
    "model.loyalty.stg_shop__orders": "timezone('UTC', ",
    "model.loyalty.stg_loyalty__contactability": "timezone('UTC', ",
    "operation.loyalty.loyalty-on-run-start-0": "select 1",  # no BRIN indexes to summarize
    "model.loyalty.dim_customers": "as double)",  # dbt.type_float(): loyalty's duckdb__type_float, not a REAL
    "model.loyalty.eligible_vip_appreciation": "cast(cast(",  # the quarter's first day as a date, then text
}


def _invoke_dbt(command: list[str], target_path: Path) -> dbtRunnerResult:
    """dbt in-process for the DuckDB target (the duckdb file: LOYALTY_DUCKDB_PATH)."""
    from dbt.cli.main import dbtRunner

    return dbtRunner().invoke(
        ["--quiet", *dbt_args(command, run_date=RUN_DATE, target=DUCKDB_TARGET, target_path=target_path)]
    )


def _failures(result: dbtRunnerResult) -> list[str]:
    nodes = getattr(result.result, "results", None) or []
    failed = [f"{node.node.unique_id}: {node.message}" for node in nodes if str(node.status) not in {"success", "pass"}]
    return failed or ([str(result.exception)] if result.exception else [])


@pytest.fixture(scope="module")
def duckdb_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A folder for the DuckDB file (LOYALTY_DUCKDB_PATH) and dbt's target path, for this module."""
    folder = tmp_path_factory.mktemp("duckdb")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LOYALTY_DUCKDB_PATH", str(folder / "warehouse.duckdb"))
        yield folder


@pytest.fixture(scope="module")
def duckdb_compiled(duckdb_folder: Path) -> Path:
    """`dbt compile` of every node (the `ci` selector) for the DuckDB target, into its own target path.

    Compile needs nothing in the database: no model exists yet, so is_incremental() is false and no
    macro reads a previous build; the duckdb file is created empty. Yields the target path.
    """
    result = _invoke_dbt(["compile", "--selector", "ci"], duckdb_folder / "target")
    assert result.success, _failures(result)
    return duckdb_folder / "target"


def _manifest_nodes(target_path: Path) -> dict[str, Any]:
    manifest = json.loads((target_path / "manifest.json").read_text())
    return dict(manifest["nodes"])


@pytest.mark.integration
def test_the_project_compiles_for_duckdb(duckdb_compiled: Path) -> None:
    """Every model, seed, snapshot, data test and hook compiles for a second adapter."""
    manifest = json.loads((duckdb_compiled / "manifest.json").read_text())
    assert manifest["metadata"]["adapter_type"] == "duckdb"
    results = json.loads((duckdb_compiled / "run_results.json").read_text())["results"]
    compiled = {result["unique_id"] for result in results if result["status"] == "success"}
    expected = {
        unique_id
        for unique_id, node in manifest["nodes"].items()
        if node["resource_type"] in {"model", "seed", "snapshot", "test", "operation"}
    }
    assert len(expected) > 300
    assert expected - compiled == set()


@pytest.mark.integration
@pytest.mark.parametrize("unique_id", sorted(DISPATCHED))
def test_dispatched_macros_switch_to_duckdb(duckdb_compiled: Path, unique_id: str) -> None:
    """The compiled SQL carries the DuckDB implementation and none of the Postgres one."""
    sql = _manifest_nodes(duckdb_compiled)[unique_id]["compiled_code"]
    assert DISPATCHED[unique_id] in sql
    found = {
        name: re.findall(pattern, sql, flags=re.IGNORECASE | re.MULTILINE) for name, pattern in POSTGRES_ONLY.items()
    }
    assert {name: hits for name, hits in found.items() if hits} == {}


@pytest.mark.integration
def test_no_compiled_node_has_postgres_only_sql(duckdb_compiled: Path) -> None:
    """No node of the whole project, hooks included, compiles to Postgres-only SQL for DuckDB."""
    offenders = {
        unique_id: name
        for unique_id, node in _manifest_nodes(duckdb_compiled).items()
        for name, pattern in POSTGRES_ONLY.items()
        if re.search(pattern, node.get("compiled_code") or "", flags=re.IGNORECASE | re.MULTILINE)
    }
    assert offenders == {}


# The layers a DuckDB build runs green today: staging, the data contract and the customer features, with their
# data tests and unit tests. The marts' contracts do not match on DuckDB yet (docs/warehouses.md).
DUCKDB_BUILD = ["+path:models/intermediate/validation", "+path:models/intermediate/customers"]
POSTGRES_COLUMNS = Path(__file__).with_name("postgres_columns.sql")


def _create_sources_like_postgres(duckdb_path: Path, target_path: Path, warehouse_url: str) -> int:
    """Create every dbt source in the DuckDB file with the columns the application declares in Postgres
    (the migrations in plugins/loyalty/sql/migrations, applied to the test warehouse), `jsonb` as DuckDB's `json`."""
    import duckdb
    import psycopg

    sources = json.loads((target_path / "manifest.json").read_text())["sources"].values()
    with psycopg.connect(warehouse_url) as conn, duckdb.connect(str(duckdb_path)) as duck:
        for source in sources:
            schema, table = source["schema"], source["identifier"]
            columns = conn.execute(POSTGRES_COLUMNS.read_text(), {"table_name": f"{schema}.{table}"}).fetchall()
            assert columns, f"{schema}.{table} is a dbt source but not a table the migrations create"
            definitions = ", ".join(f'"{name}" {"json" if kind == "jsonb" else kind}' for name, kind in columns)
            duck.execute(f'create schema if not exists "{schema}"')
            duck.execute(f'create table "{schema}"."{table}" ({definitions})')
    return len(sources)


@pytest.mark.integration
def test_staging_contract_and_features_build_on_duckdb(
    duckdb_folder: Path, duckdb_compiled: Path, warehouse_url: str
) -> None:
    """Beyond compiling: staging, the data contract (email and phone checks through regexp_matches) and the
    customer features run on DuckDB, and their unit tests' given/expect rows hold there too."""
    assert _create_sources_like_postgres(duckdb_folder / "warehouse.duckdb", duckdb_compiled, warehouse_url) > 10
    result = _invoke_dbt(["build", "--select", *DUCKDB_BUILD, "--indirect-selection", "cautious"], duckdb_compiled)
    assert result.success, _failures(result)
    statuses = {(node.node.resource_type, str(node.status)) for node in result.result.results}
    counts = {
        kind: sum(1 for node in result.result.results if node.node.resource_type == kind)
        for kind in ("model", "test", "unit_test")
    }
    assert counts["model"] >= 20 and counts["test"] >= 50 and counts["unit_test"] >= 5, counts
    assert all(status in {"success", "pass"} for _, status in statuses), statuses
    unit_tests = {node.node.name for node in result.result.results if node.node.resource_type == "unit_test"}
    # The contract's rules (a malformed email or phone quarantined, a well-formed one kept) hold on DuckDB.
    assert {"test_customer_contract_rules", "test_order_contract_rules"} <= unit_tests, unit_tests
