"""The `loyalty load` mapping: validated like a workflow spec (file, line, field), its JSON Schema
published and current, its entities the raw tables' columns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.loader import MappingError, mapping_json_schema, read_mapping
from loyalty.paths import PACKAGE_DIR

runner = CliRunner()
SCHEMA_FILE = PACKAGE_DIR / "loader" / "mapping.schema.json"
GOOD = {
    "timezone": "America/Sao_Paulo",
    "entities": {
        "customers": {
            "source": {"path": "customers*.csv"},
            "encoding": "latin-1",
            "delimiter": ";",
            "decimal": ",",
            "date_format": "%d/%m/%Y",
            "timestamp_format": "%d/%m/%Y %H:%M",
            "true_values": ["S", "sim", "1"],
            "false_values": ["N", "não", "0"],
            "columns": {
                "customer_id": "Codigo",
                "email": "E-mail",
                "first_name": "Nome",
                "signup_at": "Data Cadastro",
                "email_consent": "Aceita Email",
            },
        }
    },
}


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "mapping.yml"
    path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
    return path


def line_of_text(path: Path, needle: str) -> int:
    return next(n for n, line in enumerate(path.read_text().splitlines(), start=1) if needle in line)


def with_customers(**changes: object) -> dict:
    data = json.loads(json.dumps(GOOD))
    data["entities"]["customers"].update(changes)
    return data


class TestMappingModel:
    def test_the_documented_example_is_valid(self, tmp_path: Path) -> None:
        mapping, _ = read_mapping(write(tmp_path, GOOD))
        customers = mapping.by_entity()["customers"]
        assert customers.resolved_format == "csv"
        assert customers.column_map()["signup_at"] == "Data Cadastro"

    @pytest.mark.parametrize(
        ("data", "needle", "field", "message"),
        [
            (
                with_customers(columns={"customer_id": "Codigo", "emial": "E-mail", "signup_at": "x"}),
                "emial",
                "entities.customers.columns.emial",
                "Extra inputs are not permitted",
            ),
            (
                with_customers(columns={"customer_id": "Codigo"}),
                "columns:",
                "entities.customers.columns.signup_at",
                "Field required",
            ),
            (with_customers(encoding="ebcdic"), "encoding", "entities.customers.encoding", "'utf-8', 'latin-1'"),
            (
                with_customers(date_format="dd/mm/yyyy"),
                "date_format",
                "entities.customers.date_format",
                "has no % directive",
            ),
            (
                with_customers(timestamp_format="%d/%m/%Y %H:%M:%S.%f"),
                "timestamp_format",
                "entities.customers.timestamp_format",
                "unsupported directive(s) %f",
            ),
            (
                with_customers(source={"path": "x.csv", "url": "postgresql://h/db"}),
                "source",
                "entities.customers.source",
                "give either path",
            ),
            (
                with_customers(source={"url": "postgresql://h/db"}),
                "source",
                "entities.customers.source",
                "exactly one of table or query",
            ),
            (
                with_customers(source={"path": "export.dat"}),
                "customers:",
                "entities.customers",
                "cannot tell the format",
            ),
            (
                with_customers(values={"locale": {"br": "pt-BR"}}),
                "customers:",
                "entities.customers",
                "values for field(s) not in columns: locale",
            ),
            ({**GOOD, "timezone": "Mars/Olympus"}, "timezone", "timezone", "unknown timezone"),
            (
                {"entities": {**GOOD["entities"], "events": {}}},
                "events",
                "entities.events",
                "Extra inputs are not permitted",
            ),
        ],
        ids=[
            "unknown-field",
            "missing-required",
            "encoding",
            "format-without-directive",
            "unsupported-directive",
            "path-and-url",
            "url-without-table",
            "unknown-extension",
            "values-of-an-unmapped-field",
            "timezone",
            "events-not-yet",
        ],
    )
    def test_errors_name_file_line_and_field(
        self, tmp_path: Path, data: dict, needle: str, field: str, message: str
    ) -> None:
        path = write(tmp_path, data)
        with pytest.raises(MappingError) as error:
            read_mapping(path)
        text = str(error.value)
        assert text.startswith(f"{path}: invalid load mapping")
        assert f"line {line_of_text(path, needle)}: {field}: " in text
        assert message in text

    def test_encoding_aliases(self, tmp_path: Path) -> None:
        for alias, canonical in [
            ("UTF8", "utf-8"),
            ("latin1", "latin-1"),
            ("ISO-8859-1", "latin-1"),
            ("windows-1252", "cp1252"),
        ]:
            mapping, _ = read_mapping(write(tmp_path, with_customers(encoding=alias)))
            assert mapping.by_entity()["customers"].encoding == canonical

    def test_not_yaml_and_not_a_mapping(self, tmp_path: Path) -> None:
        path = tmp_path / "mapping.yml"
        path.write_text("entities:\n  customers: [\n")
        with pytest.raises(MappingError, match=r"mapping.yml: line \d+: is not valid YAML"):
            read_mapping(path)
        path.write_text("- a list\n")
        with pytest.raises(MappingError, match="must be a YAML mapping"):
            read_mapping(path)


class TestSchemaAndEntities:
    def test_published_schema_is_current(self) -> None:
        """plugins/loyalty/loader/mapping.schema.json matches the model: run `loyalty mapping schema --output ...`."""
        assert json.loads(SCHEMA_FILE.read_text()) == mapping_json_schema()

    def test_schema_command_prints_it(self) -> None:
        result = runner.invoke(app, ["mapping", "schema"])
        assert result.exit_code == 0 and json.loads(result.output) == mapping_json_schema()

    # The entities' fields against the raw tables' columns: tests/integration/test_migrations.py (at head).


class TestValidateCommand:
    def test_exit_codes_without_traceback(self, tmp_path: Path) -> None:
        good = write(tmp_path, GOOD)
        assert runner.invoke(app, ["mapping", "validate", str(good)]).exit_code == 0
        bad = tmp_path / "bad.yml"
        bad.write_text("entities:\n  customers:\n    source: {path: c.csv}\n    colums: {}\n")
        result = runner.invoke(app, ["mapping", "validate", str(bad)])
        assert result.exit_code == 2
        assert "line 4: entities.customers.colums: Extra inputs are not permitted" in result.output
        assert "Traceback" not in result.output
