"""How long Airflow takes to parse the project's DAGs as the number of workflow specs grows.

Prints wall time and peak memory of a DagBag load of dags/ with N generated specs next to a
baseline in the same run: one file that builds N DAGs of the same shape by hand (no YAML, no
pydantic). Run: `.venv/bin/python bench/dag_parse.py [N ...] [--results PATH]` (default 1 10 50).
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import results

ROOT = Path(__file__).resolve().parent.parent
BASELINE_DAG = textwrap.dedent(
    '''
    """Baseline airflow dag file: N plain DAGs with the workflow DAG's task shape."""
    import datetime as dt
    from airflow.sdk import DAG, task

    for number in range({count}):
        with DAG(dag_id=f"plain_{{number}}", schedule=None, start_date=dt.datetime(2026, 1, 1), catchup=False) as dag:
            @task
            def plan(): return {{}}
            @task
            def batches(planned): return []
            @task
            def send(batch_id): return {{}}
            @task
            def summarize(planned): return {{}}
            planned = plan()
            send.expand(batch_id=batches(planned)) >> summarize(planned)
        globals()[dag.dag_id] = dag
    '''
)
MEASURE = textwrap.dedent(
    """
    import resource, sys, time
    started = time.perf_counter()
    from airflow.dag_processing.dagbag import DagBag
    imported = time.perf_counter()
    bag = DagBag(dag_folder=sys.argv[1])
    done = time.perf_counter()
    assert not bag.import_errors, bag.import_errors
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RESULT {len(bag.dag_ids)} {done - imported:.3f} {peak:.0f}")
    """
)


def measure(dag_folder: Path, env: dict[str, str]) -> tuple[int, float, float]:
    out = subprocess.run(
        [sys.executable, "-c", MEASURE, str(dag_folder)], env=env, capture_output=True, text=True, check=True
    ).stdout
    line = next(row for row in out.splitlines() if row.startswith("RESULT "))
    _, dags, seconds, peak = line.split()
    return int(dags), float(seconds), float(peak)


def main(counts: list[int], record: results.Recorder) -> None:
    spec = (ROOT / "workflows" / "win_back.yml").read_text()
    print(f"{'specs':>6} {'dags':>5} {'project parse s':>16} {'ms/DAG':>7} {'baseline s':>11} {'peak MiB':>9}")
    for count in counts:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            workflows, dags, baseline = work / "workflows", work / "dags", work / "baseline"
            for folder in (workflows, dags, baseline):
                folder.mkdir()
            for number in range(count):
                copy = spec.replace("id: win_back", f"id: win_back_{number}")
                (workflows / f"win_back_{number}.yml").write_text(copy)
            shutil.copy(ROOT / "dags" / "loyalty_workflows.py", dags)
            (baseline / "plain_dags.py").write_text(BASELINE_DAG.format(count=count))
            env = {
                **os.environ,
                "AIRFLOW_HOME": str(work / "airflow"),
                "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
                "LOYALTY_WORKFLOWS_DIR": str(workflows),
            }
            n, seconds, peak = measure(dags, env)
            _, base_seconds, _ = measure(baseline, env)
            print(f"{count:>6} {n:>5} {seconds:>16.3f} {1000 * seconds / n:>7.1f} {base_seconds:>11.3f} {peak:>9.0f}")
            figure = f"DagBag parse, {count} spec(s), {n} DAGs; ratio ours/plain DAGs, lower is better"
            record(figure, seconds, base_seconds, "s", seconds / base_seconds, peak)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("counts", type=int, nargs="*", default=[1, 10, 50], help="numbers of specs, one figure each")
    results.add_argument(parser)
    args = parser.parse_args()
    main(args.counts, results.Recorder(args.results, "dag_parse"))
