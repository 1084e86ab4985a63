"""Migrations of the application tables on a real Postgres: a new warehouse at head is the schema the last
schema.sql made, a warehouse of the previous release keeps every row it holds through the upgrade, a warehouse
made before migrations existed upgrades, and `loyalty warehouse upgrade | status` say what happened.

Each test gets its own database on the session's server (`fresh_database`), so upgrades never touch the
session warehouse the other tests share."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from loyalty import migrations, warehouse
from loyalty.cli import app
from loyalty.loader.entities import ENTITIES
from loyalty.sql_files import read_sql

pytestmark = pytest.mark.integration

FIXTURES = Path(__file__).parent / "fixtures"
HEAD = ("0001", "0002", "0003", "0004")
VERSION_TABLE = f"{migrations.VERSION_TABLE_SCHEMA}.{migrations.VERSION_TABLE}"
runner = CliRunner()


@pytest.fixture
def fresh_database(warehouse_url: str) -> Iterator[Callable[[], str]]:
    """Make empty databases on the session's server (dropped after the test); returns their URLs."""
    names: list[str] = []

    def make() -> str:
        name = f"loyalty_migrations_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(warehouse_url, autocommit=True) as admin:
            admin.execute(sql.SQL("create database {}").format(sql.Identifier(name)))
        names.append(name)
        params = warehouse.connection_params(warehouse_url)
        return warehouse.url_from_connection_fields(
            params["host"], params["port"], params["user"], params["password"], name
        )

    yield make
    with psycopg.connect(warehouse_url, autocommit=True) as admin:
        for name in names:
            admin.execute(sql.SQL("drop database if exists {} with (force)").format(sql.Identifier(name)))


def run_file(url: str, path: Path) -> None:
    with psycopg.connect(url) as conn:
        conn.execute(path.read_text())


def schema_of(url: str, *, version_table: bool = False) -> dict[str, Any]:
    """Everything a migration may change in the app's schemas: each table's columns in order (name, type,
    nullability, default), every constraint's definition and every index's definition."""
    with psycopg.connect(url) as conn:
        columns = conn.execute(
            """select table_schema || '.' || table_name,
                      array_agg(array[column_name, data_type, coalesce(character_maximum_length::text, ''),
                                      coalesce(numeric_precision::text, '') || ',' || coalesce(numeric_scale::text, ''),
                                      is_nullable, coalesce(column_default, '')]
                                order by ordinal_position)
               from information_schema.columns
               where table_schema in ('raw', 'loyalty')
               group by 1"""
        ).fetchall()
        constraints = conn.execute(
            """select conrelid::regclass::text, conname, pg_get_constraintdef(oid)
               from pg_constraint
               where connamespace in ('raw'::regnamespace, 'loyalty'::regnamespace)"""
        ).fetchall()
        indexes = conn.execute(
            "select schemaname, indexname, indexdef from pg_indexes where schemaname in ('raw', 'loyalty')"
        ).fetchall()
    schema = {
        "columns": dict(columns),
        "constraints": {(table, name): definition for table, name, definition in constraints},
        "indexes": {(schema, name): definition for schema, name, definition in indexes},
    }
    if not version_table:
        schema["columns"].pop(VERSION_TABLE, None)
        schema["constraints"] = {key: value for key, value in schema["constraints"].items() if key[0] != VERSION_TABLE}
        schema["indexes"] = {key: value for key, value in schema["indexes"].items() if "alembic_version" not in key[1]}
    return schema


def column_names(url: str, table: str) -> list[str]:
    schema_name, table_name = table.split(".")
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            """select column_name from information_schema.columns
               where table_schema = %s and table_name = %s order by ordinal_position""",
            [schema_name, table_name],
        ).fetchall()
    return [name for (name,) in rows]


def fingerprint(url: str, table: str, columns: list[str]) -> tuple[int, str]:
    """(row count, md5 of every row's `columns` in a stable order): equal before and after means no row and no
    value of those columns was lost or changed."""
    schema_name, table_name = table.split(".")
    statement = sql.SQL(
        """select count(*), md5(coalesce(string_agg(row_text, '|' order by row_text), ''))
           from (select ({columns})::text as row_text from {table}) as app_rows"""
    ).format(
        columns=sql.SQL(", ").join(map(sql.Identifier, columns)),
        table=sql.Identifier(schema_name, table_name),
    )
    with psycopg.connect(url) as conn:
        count, digest = conn.execute(statement).fetchone() or (0, "")
    return count, digest


@pytest.fixture
def head_schema(fresh_database: Callable[[], str]) -> dict[str, Any]:
    url = fresh_database()
    assert migrations.upgrade(url) == list(HEAD)
    return schema_of(url, version_table=True)


@pytest.fixture
def previous_release(fresh_database: Callable[[], str]) -> str:
    """A warehouse at revision 0001 (before deferral, channel fallback and push tokens) holding data."""
    url = fresh_database()
    assert migrations.upgrade(url, "0001") == ["0001"]
    run_file(url, FIXTURES / "previous_release_rows.sql")
    return url


class TestHead:
    def test_a_new_warehouse_is_what_the_last_schema_sql_made(
        self, fresh_database: Callable[[], str], head_schema: dict[str, Any]
    ) -> None:
        """Upgrading an empty database to head gives exactly the tables, columns (in order), constraints and
        indexes schema.sql gave just before the migrations replaced it (a frozen copy), plus the version table."""
        before_migrations = fresh_database()
        run_file(before_migrations, FIXTURES / "schema_before_migrations.sql")
        head_without_version = {
            "columns": {k: v for k, v in head_schema["columns"].items() if k != VERSION_TABLE},
            "constraints": {k: v for k, v in head_schema["constraints"].items() if k[0] != VERSION_TABLE},
            "indexes": {k: v for k, v in head_schema["indexes"].items() if "alembic_version" not in k[1]},
        }
        assert schema_of(before_migrations) == head_without_version
        assert head_schema["columns"][VERSION_TABLE][0][0] == "version_num"

    def test_app_tables_are_the_tables_at_head(self, head_schema: dict[str, Any]) -> None:
        """warehouse.APP_TABLES (what a replaced world and the tests empty) is every table at head but the
        version table, which is never emptied."""
        assert sorted(head_schema["columns"]) == sorted([*warehouse.APP_TABLES, VERSION_TABLE])

    @pytest.mark.parametrize("entity", list(ENTITIES.values()), ids=list(ENTITIES))
    def test_loader_entities_are_the_raw_tables_columns(self, entity: Any, head_schema: dict[str, Any]) -> None:
        """The loader's fields per entity = raw.<table>'s columns at head, in order, minus loaded_at; required =
        not null without a default."""
        columns = [column for column in head_schema["columns"][f"raw.{entity.table}"] if column[0] != "loaded_at"]
        assert [column[0] for column in columns] == list(entity.field_names)
        required = [name for name, _, _, _, nullable, default in columns if nullable == "NO" and not default]
        assert required == list(entity.required)

    def test_every_revision_runs_its_own_sql_file(self) -> None:
        """Each revision's SQL is a file of loyalty/sql/migrations named after it, and they are all used."""
        files = sorted(
            path.name for path in (Path(migrations.commands.__file__).parents[1] / "sql/migrations").glob("*")
        )
        versions = sorted(path.name for path in (Path(migrations.commands.__file__).parent / "versions").glob("0*.py"))
        assert [name.removesuffix(".sql") for name in files] == [name.removesuffix(".py") for name in versions]
        for name in files:
            assert read_sql(f"migrations/{name}").strip()


class TestUpgradingThePreviousRelease:
    TABLES = (
        "loyalty.send_ledger",
        "loyalty.journey_entries",
        "loyalty.contactability",
        "loyalty.workflow_runs",
        "loyalty.completed_plans",
        "raw.message_events",
        "raw.app_events",
        "raw.customers",
        "raw.orders",
        "raw.order_lines",
        "raw.products",
        "raw.quarantine",
        "raw.quality_results",
        "raw.quality_checked_loads",
        "raw.loaded_files",
    )

    def test_every_row_is_kept_and_new_columns_get_their_defaults(
        self, previous_release: str, head_schema: dict[str, Any]
    ) -> None:
        """Counts and a checksum of every original column are equal before and after; the columns added
        since (channel_attempt, valid_until, deferred, push_token) read their defaults; the upgraded schema is
        the new warehouse's, column order included."""
        original = {table: column_names(previous_release, table) for table in self.TABLES}
        before = {table: fingerprint(previous_release, table, columns) for table, columns in original.items()}
        assert before["loyalty.send_ledger"][0] == 500 and before["raw.message_events"][0] == 800

        assert migrations.upgrade(previous_release) == ["0002", "0003", "0004"]

        after = {table: fingerprint(previous_release, table, columns) for table, columns in original.items()}
        assert after == before
        with psycopg.connect(previous_release) as conn:
            assert conn.execute(
                """select count(*), min(channel_attempt), max(channel_attempt), count(valid_until)
                   from loyalty.send_ledger"""
            ).fetchone() == (500, 1, 1, 0)
            assert conn.execute("select deferred from loyalty.workflow_runs").fetchall() == [({},)]
            assert conn.execute("select count(*), count(push_token) from raw.customers").fetchone() == (500, 0)
        assert schema_of(previous_release, version_table=True) == head_schema

    def test_the_new_constraints_hold(self, previous_release: str) -> None:
        """After the upgrade a row may be deferred and a second channel attempt may join the first, but a third
        attempt, a second row of the same attempt or an unknown status is refused."""
        migrations.upgrade(previous_release)
        columns = (
            "(send_id, workflow_id, step_id, customer_id, cycle_key, run_date, variant, is_holdout, channel, status"
        )
        with psycopg.connect(previous_release, autocommit=True) as conn:
            conn.execute(
                f"""insert into loyalty.send_ledger {columns}, channel_attempt)
                    values ('s-4-sms', 'win_back', 'email_1', 4, '2026-03', '2026-03-01', 'a', false, 'sms', 'pending',
                            2),
                           ('s-new', 'win_back', 'email_1', 9999, '2026-03', '2026-03-01', 'a', false, 'email',
                            'deferred', 1)"""
            )
            refused = [
                ("s-4-push", "4", "3", "pending", psycopg.errors.CheckViolation),
                ("s-4-again", "4", "1", "pending", psycopg.errors.UniqueViolation),
                ("s-odd", "9998", "1", "lost", psycopg.errors.CheckViolation),
            ]
            for send_id, customer_id, attempt, status, error in refused:
                with pytest.raises(error):
                    conn.execute(
                        f"""insert into loyalty.send_ledger {columns}, channel_attempt)
                            values (%s, 'win_back', 'email_1', %s, '2026-03', '2026-03-01', 'a', false, 'email', %s,
                                    %s)""",
                        [send_id, int(customer_id), status, int(attempt)],
                    )
            assert conn.execute("select count(*) from loyalty.send_ledger").fetchone() == (502,)

    def test_a_second_upgrade_is_a_no_op(self, previous_release: str) -> None:
        migrations.upgrade(previous_release)
        schema = schema_of(previous_release, version_table=True)
        rows = fingerprint(
            previous_release, "loyalty.send_ledger", column_names(previous_release, "loyalty.send_ledger")
        )
        assert migrations.upgrade(previous_release) == []
        assert schema_of(previous_release, version_table=True) == schema
        assert (
            fingerprint(previous_release, "loyalty.send_ledger", column_names(previous_release, "loyalty.send_ledger"))
            == rows
        )

    def test_status_is_behind_before_and_current_after(self, previous_release: str) -> None:
        behind = migrations.status(previous_release)
        assert behind == migrations.MigrationStatus(current="0001", head="0004", pending=("0002", "0003", "0004"))
        assert not behind.is_current
        migrations.upgrade(previous_release)
        current = migrations.status(previous_release)
        assert current == migrations.MigrationStatus(current="0004", head="0004", pending=())
        assert current.is_current


class TestBeforeMigrations:
    @pytest.mark.parametrize(
        "schema_file",
        [
            Path(migrations.commands.__file__).parents[1] / "sql/migrations/0001_baseline.sql",
            FIXTURES / "schema_before_migrations.sql",
        ],
        ids=["previous release's schema.sql", "last schema.sql"],
    )
    def test_a_warehouse_without_version_table_upgrades(
        self, schema_file: Path, fresh_database: Callable[[], str], head_schema: dict[str, Any]
    ) -> None:
        """A warehouse made by schema.sql (no version table) reports no revision, upgrades through every one
        (each is idempotent), keeps its rows and ends with the new warehouse's schema."""
        url = fresh_database()
        run_file(url, schema_file)
        run_file(url, FIXTURES / "previous_release_rows.sql")
        ledger_columns = column_names(url, "loyalty.send_ledger")
        before = fingerprint(url, "loyalty.send_ledger", ledger_columns)
        assert migrations.status(url).current is None
        assert migrations.upgrade(url) == list(HEAD)
        assert fingerprint(url, "loyalty.send_ledger", ledger_columns) == before
        assert schema_of(url, version_table=True) == head_schema

    def test_two_upgrades_at_once_apply_each_revision_once(self, fresh_database: Callable[[], str]) -> None:
        """Two processes starting on one new warehouse (a demo and a DAG) wait for each other's lock: one applies
        every revision, the other finds none pending; neither fails."""
        url = fresh_database()
        code = "import sys; from loyalty import migrations; print(','.join(migrations.upgrade(sys.argv[1])))"
        processes = [
            subprocess.Popen(
                [sys.executable, "-c", code, url], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
            )
            for _ in range(2)
        ]
        outcomes = [process.communicate(timeout=120) for process in processes]
        assert [process.returncode for process in processes] == [0, 0], outcomes
        assert sorted(stdout.strip() for stdout, _ in outcomes) == ["", ",".join(HEAD)]


class TestFailures:
    def test_a_failing_revision_rolls_back_alone_with_a_clear_message(self, previous_release: str) -> None:
        """A ledger whose status check was removed by hand and holds a status no release knows cannot take 0002's
        check: the error names the revision, the warehouse and Postgres' reason, and the warehouse stays at 0001."""
        with psycopg.connect(previous_release) as conn:
            conn.execute("alter table loyalty.send_ledger drop constraint send_ledger_status")
            conn.execute("update loyalty.send_ledger set status = 'lost' where send_id = 's-1'")
        with pytest.raises(migrations.MigrationError) as failure:
            migrations.upgrade(previous_release)
        message = str(failure.value)
        assert message.startswith("revision 0002 (Deferral:")
        assert 'check constraint "send_ledger_status"' in message
        assert migrations.status(previous_release).current == "0001"
        assert column_names(previous_release, "loyalty.send_ledger")[-1] == "priority"  # 0002's columns rolled back

    def test_an_unreachable_warehouse_is_named_without_its_password(self) -> None:
        url = "postgresql://loyalty:s3cret@127.0.0.1:1/warehouse"
        for call in (migrations.status, migrations.upgrade):
            with pytest.raises(migrations.MigrationError, match="cannot reach the warehouse") as failure:
                call(url)
            assert "127.0.0.1:1/warehouse" in str(failure.value) and "s3cret" not in str(failure.value)

    def test_a_revision_newer_than_the_code_is_reported(self, fresh_database: Callable[[], str]) -> None:
        url = fresh_database()
        migrations.upgrade(url)
        with psycopg.connect(url) as conn:
            conn.execute(f"update {VERSION_TABLE} set version_num = '0099'")
        with pytest.raises(migrations.MigrationError, match="revision '0099', which this version of loyalty does not"):
            migrations.status(url)
        with pytest.raises(migrations.MigrationError, match="does not know"):
            migrations.upgrade(url)


class TestCommands:
    def test_status_then_upgrade_then_status(self, previous_release: str) -> None:
        """`status` lists what is pending and exits 1; `upgrade --sql` prints the SQL and changes nothing;
        `upgrade` prints each revision it applies and where the warehouse ends; `status` then exits 0."""
        env = {warehouse.ENV_URL: previous_release}
        behind = runner.invoke(app, ["warehouse", "status"], env=env)
        assert behind.exit_code == 1, behind.output
        assert "current 0001, head 0004" in behind.output
        assert "pending 0003  Channel fallback" in behind.output

        offline = runner.invoke(app, ["warehouse", "upgrade", "--sql"], env=env)
        assert offline.exit_code == 0, offline.output
        assert "add column if not exists channel_attempt" in offline.output
        assert "UPDATE loyalty.alembic_version SET version_num='0004'" in offline.output
        assert migrations.status(previous_release).current == "0001"

        applied = runner.invoke(app, ["warehouse", "upgrade"], env=env)
        assert applied.exit_code == 0, applied.output
        lines = applied.output.splitlines()
        assert [line.split()[:2] for line in lines[:3]] == [
            ["applied", "0002"],
            ["applied", "0003"],
            ["applied", "0004"],
        ]
        assert lines[-1] == "warehouse at revision 0004 (head)"

        current = runner.invoke(app, ["warehouse", "status"], env=env)
        assert current.exit_code == 0 and current.output.strip() == "current 0004, head 0004"
        again = runner.invoke(app, ["warehouse", "init"], env=env)
        assert again.exit_code == 0 and again.output.strip() == "warehouse at revision 0004 (head)"

    def test_errors_are_one_clear_line(self, previous_release: str) -> None:
        env = {warehouse.ENV_URL: "postgresql://loyalty:s3cret@127.0.0.1:1/warehouse"}
        for command in (["warehouse", "upgrade"], ["warehouse", "status"], ["warehouse", "upgrade", "--sql"]):
            result = runner.invoke(app, command, env=env)
            assert result.exit_code in (1, 2)
            assert "cannot reach the warehouse postgresql://loyalty:***@127.0.0.1:1/warehouse" in result.output
            assert "Traceback" not in result.output and "s3cret" not in result.output
        unknown = runner.invoke(
            app, ["warehouse", "upgrade", "--revision", "9999"], env={warehouse.ENV_URL: previous_release}
        )
        assert unknown.exit_code == 1
        assert "Can't locate revision identified by '9999'" in unknown.output and "Traceback" not in unknown.output
