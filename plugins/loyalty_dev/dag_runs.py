"""Several real DAG runs for one logical date in one Airflow process.

`airflow dags test DAG DATE` starts Airflow and parses the DAG folder for every DAG it runs; a simulated
day of the whole catalogue (the warehouse DAG, then every workflow DAG) would pay that a dozen times. This
runs the same thing — `DAG.test`, what `airflow dags test` calls, tasks executed by Airflow's task runner
against the metadata DB — for each DAG in order, in one process: `python -m loyalty_dev.dag_runs DATE DAG...`.
It stops at the first failed run (exit 1, naming it).
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("day", type=dt.date.fromisoformat, help="the logical date, YYYY-MM-DD")
    parser.add_argument("dag_ids", nargs="+", help="DAGs to run, in this order")
    args = parser.parse_args(argv)

    from airflow.providers_manager import ProvidersManager
    from airflow.utils.cli import get_bagged_dag
    from airflow.utils.state import DagRunState

    ProvidersManager().initialize_providers_configuration()  # as the CLI's commands do first
    logical_date = dt.datetime.combine(args.day, dt.time(), tzinfo=dt.UTC)
    for dag_id in args.dag_ids:
        dag = get_bagged_dag(bundle_names=None, dag_id=dag_id)
        run = dag.test(logical_date=logical_date)
        if run is None or run.state == DagRunState.FAILED:
            print(f"DagRun {dag_id} {args.day} failed", file=sys.stderr)
            return 1
        print(f"DagRun {dag_id} {args.day}: {run.state}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
