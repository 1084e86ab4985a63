"""How long the warehouse DAG's Great Expectations raw check takes, and how much memory it needs.

Writes a retailer with generate_series (bench/sql/dbt_bulk_world.sql; default 200,000 customers,
600,000 orders, 2,000,000 order lines; the flags take it to dbt_build.py's 1M / 3M / 10M) into a
scratch database, then runs `loyalty.quality.check_raw`, each in its own process so its peak RSS is its own:

- baseline: the check as first built — every raw row, read into one pandas frame per table;
- first check: every raw row (a table's first check), read in frames of 200,000 rows;
- daily check: the next run date, after one more day of loads (bench/sql/dbt_bulk_next_day.sql):
  only the rows loaded since the first check (less the one-hour margin).

The scratch database `loyalty_bench_quality` is created on the server of LOYALTY_WAREHOUSE_URL (else
the embedded Postgres) and dropped at the end unless --keep.

Run: `.venv/bin/python bench/raw_checks.py [--customers N --orders N --lines N] [--results PATH]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import time

import psycopg

import results
from dbt_build import load_average, load_next_day, scratch_database, world_arguments, write_world
from loyalty.quality import checks
from processes import in_child, peak_mib


def _timed_check(url: str, run_date: dt.date, chunk_rows: int) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, rows checked) of one check_raw in this (child) process."""
    started = time.perf_counter()
    checks.check_raw(url, run_date, chunk_rows=chunk_rows)
    seconds = time.perf_counter() - started
    peak = peak_mib()
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "select sum(rows_checked) from raw.quality_checked_loads where run_date = %s", [run_date]
        ).fetchone()[0]
    return seconds, peak, int(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    world_arguments(parser, 200_000, 600_000, 2_000_000, "loyalty_bench_quality")
    args = parser.parse_args()

    admin_url, url = scratch_database(args.database)
    figures = []
    try:
        sizes = write_world(url, args)
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("analyze")  # planner statistics only: check_raw summarizes the BRIN ranges itself

        def measure(what: str, run_date: dt.date, chunk_rows: int) -> None:
            before = load_average()
            seconds, peak, rows = in_child(_timed_check, url, run_date, chunk_rows)
            figures.append((what, rows, seconds, peak, f"{before} → {load_average()}"))

        measure("baseline: whole tables, one frame each", args.run_date, 2**31 - 1)
        with psycopg.connect(url) as conn:
            conn.execute("truncate raw.quality_checked_loads, raw.quarantine")
        measure("first check: whole tables, frames of 200,000", args.run_date, checks.RAW_CHUNK_ROWS)

        next_day, _ = load_next_day(url, args, sizes)
        measure("daily check: one new day of loads", next_day, checks.RAW_CHUNK_ROWS)
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{args.database}" with (force)')

    print(f"\n{'what':<48}{'rows read':>12}{'seconds':>10}{'peak MiB':>10}   load average (1 min)")
    for what, rows, seconds, peak, loads in figures:
        print(f"{what:<48}{rows:>12,}{seconds:>10.1f}{peak:>10.0f}   {loads}")
    record = results.Recorder(args.results, "raw_checks")
    (_, _, baseline, baseline_peak, _), first, daily = figures
    size = f"{args.customers:,} customers"
    for label, (_, rows, seconds, peak, _) in (("first check", first), ("daily check", daily)):
        figure = f"{label}, {size} ({rows:,} rows); ratio ours/one frame a table, lower is better"
        record(figure, seconds, baseline, "s", seconds / baseline, peak)
    figure = "peak RSS, first check; ratio ours/one frame a table, lower is better"
    record(figure, first[3], baseline_peak, "MiB", first[3] / baseline_peak, first[3])
    print(f"\n{os.cpu_count()} cores; rows read = customers + orders + order lines in the check's window")


if __name__ == "__main__":
    main()
