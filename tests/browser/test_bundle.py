"""The Superset bundle in superset/ is consistent and importable: every reference resolves, every dataset column
exists in its dbt model's contract, every chart sits on a dashboard, the pins Superset 6.1.0 needs are kept, and
the production compose file is valid YAML with real auth. Fast: no Superset, no browser."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
import yaml

from loyalty.bi import superset
from loyalty.paths import DBT_PROJECT_DIR

BUNDLE = superset.BUNDLE_DIR


def _load(pattern: str) -> dict[Path, dict]:
    return {path: yaml.safe_load(path.read_text()) for path in sorted(BUNDLE.glob(pattern))}


def _dbt_columns() -> dict[str, set[str]]:
    models: dict[str, set[str]] = {}
    for path in (DBT_PROJECT_DIR / "models" / "marts").rglob("_*.yml"):
        for model in yaml.safe_load(path.read_text()).get("models", []):
            models[model["name"]] = {column["name"] for column in model.get("columns", [])}
    return models


class TestBundle:
    def test_references_resolve(self) -> None:
        """Charts name existing datasets, datasets the one database, dashboards existing charts; uuids unique."""
        databases = _load("databases/*.yaml")
        datasets = _load("datasets/*/*.yaml")
        charts = _load("charts/*.yaml")
        dashboards = _load("dashboards/*.yaml")
        assert len(databases) == 1 and len(dashboards) == 4
        uuids = [doc["uuid"] for group in (databases, datasets, charts, dashboards) for doc in group.values()]
        assert len(uuids) == len(set(uuids))
        database_uuid = next(iter(databases.values()))["uuid"]
        assert {doc["database_uuid"] for doc in datasets.values()} == {database_uuid}
        dataset_uuids = {doc["uuid"] for doc in datasets.values()}
        assert {doc["dataset_uuid"] for doc in charts.values()} <= dataset_uuids
        placed = [
            node["meta"]["uuid"]
            for dashboard in dashboards.values()
            for node in dashboard["position"].values()
            if isinstance(node, dict) and node.get("type") == "CHART"
        ]
        assert sorted(placed) == sorted(doc["uuid"] for doc in charts.values()), "every chart on exactly one dashboard"
        assert {doc["slug"] for doc in dashboards.values()} == set(superset.DASHBOARDS)

    def test_datasets_read_the_dbt_marts(self) -> None:
        """Physical datasets are dbt marts and use only columns of their contracts (a renamed column fails here)."""
        models = _dbt_columns()
        for path, dataset in _load("datasets/*/*.yaml").items():
            if dataset["sql"]:  # a virtual dataset: its SQL reads marts only
                assert set(re.findall(r"from (\w+)\.", dataset["sql"])) <= {"marts", "seeds"}, path
                continue
            assert dataset["schema"] == "marts", path
            assert dataset["table_name"] in models, f"{path}: no dbt model {dataset['table_name']}"
            physical = {c["column_name"] for c in dataset["columns"] if not c["expression"]}
            assert physical <= models[dataset["table_name"]], (path, physical - models[dataset["table_name"]])

    def test_chart_columns_exist(self) -> None:
        """Columns a chart groups by, sorts by or plots on its x axis exist in its dataset."""
        datasets = {doc["uuid"]: doc for doc in _load("datasets/*/*.yaml").values()}
        for path, chart in _load("charts/*.yaml").items():
            columns = {c["column_name"] for c in datasets[chart["dataset_uuid"]]["columns"]}
            params = chart["params"]
            groupby = params.get("groupby") or []
            used = set(params.get("all_columns", [])) | ({groupby} if isinstance(groupby, str) else set(groupby))
            used |= {params["x_axis"]} if isinstance(params.get("x_axis"), str) else set()
            used |= {yaml.safe_load(order)[0] for order in params.get("order_by_cols", [])}
            assert used <= columns, (path, used - columns)

    def test_zip_points_at_the_warehouse(self, tmp_path: Path) -> None:
        """The ZIP `loyalty dashboards` imports carries the resolved warehouse URL (socket form kept)."""
        url = "postgresql://postgres:@/postgres?host=/tmp/state/pgdata"
        archive = superset.bundle_zip(url, tmp_path / "bundle.zip")
        with zipfile.ZipFile(archive) as bundle:
            names = bundle.namelist()
            database = yaml.safe_load(bundle.read("loyalty_bundle/databases/loyalty_warehouse.yaml"))
        assert "loyalty_bundle/metadata.yaml" in names
        assert database["sqlalchemy_uri"] == "postgresql+psycopg2://postgres:@/postgres?host=/tmp/state/pgdata"

    @pytest.mark.parametrize(
        ("url", "expected"),
        [
            ("postgresql://u:p%40ss@db:5432/w", "postgresql+psycopg2://u:p%40ss@db:5432/w"),
            ("postgres://u@h/w?sslmode=require", "postgresql+psycopg2://u@h/w?sslmode=require"),
        ],
    )
    def test_superset_uri(self, url: str, expected: str) -> None:
        assert superset.superset_uri(url) == expected


class TestPins:
    def test_requirements_pinned_with_hashes(self) -> None:
        """Superset 6.1.0 with the pins it needs: rich and cachetools (imported, undeclared), flask-caching 2.3.1."""
        text = superset.REQUIREMENTS.read_text()
        pins = dict(re.findall(r"^([a-z0-9_.-]+)==([^ \\\n]+)", text, re.MULTILINE))
        assert pins["apache-superset"] == "6.1.0"
        assert pins["flask-caching"] == "2.3.1"
        assert {"rich", "cachetools", "psycopg2-binary", "gunicorn"} <= set(pins)
        assert text.count("--hash=sha256:") >= len(pins)
