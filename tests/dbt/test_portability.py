"""Model SQL uses only dbt's cross-database macros and the project's adapter-dispatched macros:
Postgres-only syntax may appear in macros/ (inside a `postgres__` implementation), never in models,
snapshots or tests, so the project can target another adapter by adding macro implementations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from loyalty.paths import DBT_PROJECT_DIR

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
