"""The SQL files the application runs: one loader, shared pieces included (not copied), structure by Jinja,
identifiers quoted by psycopg, and no SQL statement left in a Python string."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from jinja2 import UndefinedError
from psycopg import sql

from loyalty import warehouse
from loyalty.paths import PACKAGE_DIR, SQL_DIR
from loyalty.sql_files import INCLUDE, included_files, query, read_sql

INGEST_FILES = ("webhooks/ingest_events.sql", "webhooks/ingest_sendgrid_events.sql")


def _statement_files() -> list[str]:
    fragments = included_files()
    return sorted(
        str(path.relative_to(SQL_DIR))
        for path in SQL_DIR.rglob("*.sql")
        if str(path.relative_to(SQL_DIR)) not in fragments
    )


class TestIncludes:
    def test_sql_includes_are_resolved(self) -> None:
        """`-- include:` lines pull the shared store-events tail into both webhook ingest statements, exactly
        once each: one insert into raw.message_events, one upsert of loyalty.contactability."""
        for name in INGEST_FILES:
            text = read_sql(name)
            assert not INCLUDE.search(text)
            assert text.count("insert into loyalty.contactability") == 1
            assert text.count("insert into raw.message_events") == 1

    def test_the_ingest_files_share_no_copied_lines(self) -> None:
        """What both ingest statements do lives in one included file: their own texts share no run of six
        non-blank lines (what `duplicates` would list)."""

        def runs(name: str) -> set[tuple[str, ...]]:
            lines = [line.strip() for line in (SQL_DIR / name).read_text().splitlines() if line.strip()]
            return {tuple(lines[i : i + 6]) for i in range(len(lines) - 5)}

        assert runs(INGEST_FILES[0]) & runs(INGEST_FILES[1]) == set()

    def test_includes_nest_and_resolve_from_the_directory(self, tmp_path: Path) -> None:
        """An included file may include another; paths are relative to the directory, not to the includer."""
        (tmp_path / "parts").mkdir()
        (tmp_path / "parts" / "inner.sql").write_text("inner_cte as (select 1 as one)\n")
        (tmp_path / "parts" / "outer.sql").write_text("-- include: parts/inner.sql\n")
        (tmp_path / "main.sql").write_text("with\n-- include: parts/outer.sql\nselect one from inner_cte\n")
        assert read_sql("main.sql", tmp_path) == "with\ninner_cte as (select 1 as one)\nselect one from inner_cte\n"
        assert included_files(tmp_path) == {"parts/inner.sql", "parts/outer.sql"}

    @pytest.mark.parametrize("name", _statement_files())
    def test_every_statement_file_loads(self, name: str) -> None:
        """Every file that is not a fragment loads with its includes resolved (each include target exists)."""
        assert not INCLUDE.search(read_sql(name))

    def test_every_include_target_exists(self) -> None:
        assert all((SQL_DIR / name).is_file() for name in included_files())


class TestStructureAndIdentifiers:
    def test_jinja_renders_structure_only_when_asked(self, tmp_path: Path) -> None:
        """Jinja runs with `structure`; a variable it does not give fails loudly (StrictUndefined)."""
        (tmp_path / "shape.sql").write_text("select a{% if with_b %}, b{% endif %} from t where c = %(c)s\n")
        assert query("shape.sql", tmp_path, structure={"with_b": True}) == "select a, b from t where c = %(c)s\n"
        assert query("shape.sql", tmp_path, structure={"with_b": False}) == "select a from t where c = %(c)s\n"
        with pytest.raises(UndefinedError):
            query("shape.sql", tmp_path, structure={})

    def test_identifiers_are_quoted_by_psycopg(self, tmp_path: Path) -> None:
        """`{name}` placeholders become quoted identifiers; `%(name)s` values stay bound parameters."""
        (tmp_path / "audience.sql").write_text("select * from {audience} where run_date = %(run_date)s\n")
        composed = query("audience.sql", tmp_path, identifiers={"audience": sql.Identifier("marts", 'odd"name')})
        assert isinstance(composed, sql.Composed)
        assert composed.as_string(None) == 'select * from "marts"."odd""name" where run_date = %(run_date)s\n'


STATEMENT = re.compile(r"\b(select|insert\s+into|update|delete\s+from|with)\b[\s\S]*\b(from|set|values|as)\b", re.I)


def _sql_strings(path: Path) -> list[str]:
    """Multi-line string constants of a module that read like SQL statements (docstrings excepted)."""
    tree = ast.parse(path.read_text())
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        f"{path.relative_to(PACKAGE_DIR)}:{node.lineno}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
        and "\n" in node.value.strip()
        and STATEMENT.search(node.value)
    ]


def test_no_sql_statement_lives_in_a_python_string() -> None:
    """The product's SQL is in .sql files: no multi-line SQL string is left in its Python modules."""
    offenders = [found for path in sorted(PACKAGE_DIR.rglob("*.py")) for found in _sql_strings(path)]
    assert offenders == []


WRITE = re.compile(r"^\s*(insert\s+into|update\s+[\w.]+(\s+as\s+\w+)?\s+set|delete\s+from|merge\s+into)\b", re.I)
LEDGER_WRITE = re.compile(r"\b(insert\s+into|update|delete\s+from|merge\s+into)\s+loyalty\.send_ledger\b", re.I)


def _strings(path: Path) -> list[tuple[int, str]]:
    return [
        (node.lineno, node.value)
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    ]


class TestWrites:
    def test_no_write_lives_in_a_python_string(self) -> None:
        """Only one-line reads and housekeeping stay inline (loyalty.sql_files): every insert, update, delete or
        merge the product runs, even a one-line one, is a .sql file."""
        offenders = [
            f"{path.relative_to(PACKAGE_DIR)}:{line}"
            for path in sorted(PACKAGE_DIR.rglob("*.py"))
            for line, text in _strings(path)
            if WRITE.search(text)
        ]
        assert offenders == []

    def test_only_the_ledger_module_writes_the_send_ledger(self) -> None:
        """Every statement that writes loyalty.send_ledger is a file under sql/ledger/, and the only Python module
        that loads one is loyalty/ledger.py (a reader such as specs/preview.py may load the others)."""
        writers = {
            str(path.relative_to(SQL_DIR))
            for path in SQL_DIR.rglob("*.sql")
            if LEDGER_WRITE.search(read_sql(str(path.relative_to(SQL_DIR))))
        }
        assert writers and all(name.startswith("ledger/") for name in writers)
        loaders = {
            str(path.relative_to(PACKAGE_DIR))
            for path in PACKAGE_DIR.rglob("*.py")
            for _, text in _strings(path)
            if text in writers
        }
        assert loaders == {"ledger.py"}


def test_app_tables_are_every_table_the_migrations_create() -> None:
    """warehouse.APP_TABLES (what a replaced synthetic world and the tests empty) lists exactly the tables the
    migrations create: a new table cannot be forgotten there (as raw.loaded_files and the suppression list once
    were by the generator's own list). tests/integration/test_migrations.py checks a warehouse at head too."""
    created = [
        table
        for path in sorted((SQL_DIR / "migrations").glob("*.sql"))
        for table in re.findall(r"create table if not exists (\w+\.\w+)", read_sql(f"migrations/{path.name}"))
    ]
    assert sorted(created) == sorted(warehouse.APP_TABLES)
