"""DAG integrity: every DAG file imports, every DAG has an owner, tags, docs and retries, one DAG
exists per spec, and a broken spec shows up as its own failing DAG without hiding the others."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

import pytest

from loyalty.paths import DAGS_DIR, WORKFLOWS_DIR
from loyalty.specs import spec_paths

from ..conftest import mkdir


@pytest.fixture(scope="module")
def airflow_home(session_dir: Path) -> Path:
    home = mkdir(session_dir / "airflow-dag-integrity")
    os.environ.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_DIR),
            "AIRFLOW__CORE__UNIT_TEST_MODE": "True",
        }
    )
    return home


def _dagbag(dag_folder: Path):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(dag_folder))


def test_every_dag_file_imports(airflow_home: Path) -> None:
    """No import errors, and one DAG per spec plus the load, warehouse and metrics DAGs."""
    started = time.perf_counter()
    bag = _dagbag(DAGS_DIR)
    assert bag.import_errors == {}
    expected = {"loyalty_load", "loyalty_warehouse", "loyalty_metrics"} | {p.stem for p in spec_paths(WORKFLOWS_DIR)}
    assert set(bag.dag_ids) == expected
    assert time.perf_counter() - started < 30, "parsing must stay cheap: no warehouse or network at parse time"


def test_dags_carry_owner_tags_docs_retries(airflow_home: Path) -> None:
    """What the data team reads in the UI is there for every DAG."""
    bag = _dagbag(DAGS_DIR)
    for dag_id, dag in bag.dags.items():
        assert dag.tags, dag_id
        assert dag.doc_md, dag_id
        assert not dag.catchup, dag_id
        for task in dag.tasks:
            assert task.owner not in (None, "", "airflow"), f"{dag_id}.{task.task_id}"
            assert task.retries >= 1 or dag_id.endswith("__invalid_spec"), f"{dag_id}.{task.task_id}"


def test_send_tasks_use_channel_pools(airflow_home: Path) -> None:
    """Sends are mapped per batch and limited by one pool per channel."""
    bag = _dagbag(DAGS_DIR)
    send = bag.dags["win_back"].get_task("send_email")
    assert send.pool == "email"


def test_broken_spec_does_not_hide_other_dags(airflow_home: Path, tmp_path: Path, monkeypatch) -> None:
    """A spec with an error becomes `<name>__invalid_spec` showing the error; good specs still load."""
    workflows = tmp_path / "workflows"
    shutil.copytree(WORKFLOWS_DIR, workflows)
    (workflows / "broken.yml").write_text("id: broken\nname: Broken\nowner: me\n")
    dags = tmp_path / "dags"
    shutil.copytree(DAGS_DIR, dags)
    monkeypatch.setattr("loyalty.paths.WORKFLOWS_DIR", workflows)
    bag = _dagbag(dags)
    assert bag.import_errors == {}
    assert "win_back" in bag.dag_ids
    broken = bag.dags["broken__invalid_spec"]
    assert "broken.yml" in broken.doc_md and "audience" in broken.doc_md


def test_warehouse_dag_renders_one_task_per_model_from_a_manifest(airflow_home: Path, monkeypatch) -> None:
    """With a manifest compiled at build time, cosmos renders one task per dbt model (no dbt at parse)."""
    import json

    from loyalty.dbt import compile_manifest

    manifest = compile_manifest()
    models = {
        node["name"] for node in json.loads(manifest.read_text())["nodes"].values() if node["resource_type"] == "model"
    }
    monkeypatch.setenv("LOYALTY_DBT_MANIFEST", str(manifest))
    bag = _dagbag(DAGS_DIR)
    assert bag.import_errors == {}
    task_ids = set(bag.dags["loyalty_warehouse"].task_ids)
    # cosmos names a model's task `dbt.<model>.run` (grouped with its tests) or `dbt.<model>_run` (no tests)
    missing = {m for m in models if f"dbt.{m}.run" not in task_ids and f"dbt.{m}_run" not in task_ids}
    assert not missing
    _assert_quality_gates_around_dbt(bag.dags["loyalty_warehouse"])


def _assert_quality_gates_around_dbt(dag) -> None:
    """check_raw runs before every dbt task; check_features after all of them, and only it emits
    the Asset the workflow DAGs are scheduled on (a failed drift check starts no workflow)."""
    check_raw, check_features = dag.get_task("check_raw"), dag.get_task("check_features")
    dbt_tasks = [t for t in dag.tasks if t.task_id not in {"check_raw", "check_features"}]
    assert dbt_tasks
    assert all(t.task_id in check_raw.get_flat_relative_ids(upstream=False) for t in dbt_tasks)
    assert all(t.task_id in check_features.get_flat_relative_ids(upstream=True) for t in dbt_tasks)
    emitting = {t.task_id for t in dag.tasks if any(getattr(o, "uri", None) for o in t.outlets)}
    assert emitting == {"check_features"}


def test_warehouse_dag_checks_raw_data_before_dbt_and_features_after(airflow_home: Path, monkeypatch) -> None:
    monkeypatch.delenv("LOYALTY_DBT_MANIFEST", raising=False)
    bag = _dagbag(DAGS_DIR)
    assert bag.import_errors == {}
    _assert_quality_gates_around_dbt(bag.dags["loyalty_warehouse"])


def test_load_dag_is_scheduled_and_emits_the_raw_asset(airflow_home: Path) -> None:
    """`loyalty_load` runs hourly without catch-up and its one task emits loyalty://warehouse/raw."""
    bag = _dagbag(DAGS_DIR)
    dag = bag.dags["loyalty_load"]
    assert not dag.catchup
    (task,) = dag.tasks
    assert [outlet.uri for outlet in task.outlets] == ["loyalty://warehouse/raw"]
