"""How long dbt takes to build customer features and segments at retailer scale.

Writes a retailer with generate_series (bench/sql/dbt_bulk_world.sql; default 1,000,000 customers,
3,000,000 orders, 10,000,000 order lines over two years) into a scratch database, then prints:

- full refresh: `dbt build --selector features --full-refresh` as of the last day (models + data tests)
- incremental: the same build after one new day of data (bench/sql/dbt_bulk_next_day.sql)
- floor: one plain `CREATE TABLE AS` of the same customer-features join straight from raw
  (bench/sql/dbt_floor.sql)

and the slowest nodes of each build. The scratch database `loyalty_bench` is created on the server of
LOYALTY_WAREHOUSE_URL (else the embedded Postgres) and dropped at the end unless --keep.

Run: `.venv/bin/python bench/dbt_build.py [--customers N --orders N --lines N] [--results PATH]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import time
from pathlib import Path

import psycopg

import results
from loyalty import warehouse
from loyalty.dbt import run_dbt
from loyalty.paths import state_dir

SQL_DIR = Path(__file__).with_name("sql")


def scratch_database(name: str) -> tuple[str, str]:
    """(admin URL, scratch URL) on the warehouse's server; the scratch database is created empty."""
    admin_url = warehouse.resolve_url()
    params = warehouse.connection_params(admin_url)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'drop database if exists "{name}" with (force)')
        admin.execute(f'create database "{name}"')
    url = warehouse.url_from_connection_fields(params["host"], params["port"], params["user"], params["password"], name)
    return admin_url, url


def run_sql(url: str, file_name: str, **params: object) -> float:
    started = time.perf_counter()
    # Client-side binding: the files hold several statements.
    with psycopg.connect(url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute((SQL_DIR / file_name).read_text(), params)
    return time.perf_counter() - started


def load_average() -> str:
    """The 1-minute load average (the machine is shared: figures only mean something next to it)."""
    return f"{os.getloadavg()[0]:.1f}"


# Nodes (models and their data tests) of the staging views and the data contract; the rest are the
# customer features and segments.
UPSTREAM_NODES = ("stg_", "_validated", "int_orders_as_of_run_date")


def timed_dbt(
    command: list[str], url: str, run_date: dt.date
) -> tuple[float, list[tuple[float, str]], dict[str, float]]:
    """Wall-clock seconds, the slowest nodes, and node seconds per part (2 dbt threads run in parallel)."""
    started = time.perf_counter()
    run_dbt(command, url, run_date=run_date)
    seconds = time.perf_counter() - started
    results = json.loads((state_dir() / "dbt" / "target" / "run_results.json").read_text())["results"]
    slowest = sorted(((node["execution_time"], node["unique_id"]) for node in results), reverse=True)[:8]
    parts = {"staging and data contract": 0.0, "customer features and segments": 0.0}
    for node in results:
        upstream = any(name in node["unique_id"] for name in UPSTREAM_NODES)
        parts["staging and data contract" if upstream else "customer features and segments"] += node["execution_time"]
    return seconds, slowest, parts


def world_arguments(parser: argparse.ArgumentParser, customers: int, orders: int, lines: int, database: str) -> None:
    """The bulk world's flags (sizes, history, run date) and the scratch database's."""
    parser.add_argument("--customers", type=int, default=customers)
    parser.add_argument("--orders", type=int, default=orders)
    parser.add_argument("--lines", type=int, default=lines)
    parser.add_argument("--products", type=int, default=1_000)
    parser.add_argument("--history-days", type=int, default=730)
    parser.add_argument("--run-date", type=dt.date.fromisoformat, default=dt.date(2026, 5, 31))
    parser.add_argument("--database", default=database)
    parser.add_argument("--keep", action="store_true", help="keep the scratch database")
    results.add_argument(parser)


def write_world(url: str, args: argparse.Namespace) -> dict[str, int]:
    """The application's schema and the bulk world (bench/sql/dbt_bulk_world.sql) in `url`; its sizes."""
    warehouse.init_schema(url)
    sizes = {
        "customers": args.customers,
        "orders": args.orders,
        "lines": args.lines,
        "products": args.products,
        "history_days": args.history_days,
    }
    seconds = run_sql(url, "dbt_bulk_world.sql", run_date=args.run_date, **sizes)
    print(f"bulk world: {args.customers:,} customers, {args.orders:,} orders, {args.lines:,} lines in {seconds:.0f} s")
    return sizes


def load_next_day(url: str, args: argparse.Namespace, sizes: dict[str, int]) -> tuple[dt.date, dict[str, int]]:
    """One more day of signups, orders and lines at the world's daily rates (bench/sql/dbt_bulk_next_day.sql)."""
    next_day = args.run_date + dt.timedelta(days=1)
    per_day = {
        "new_customers": max(1, args.customers // args.history_days),
        "new_orders": max(1, args.orders // args.history_days),
        "new_lines": max(1, args.lines // args.history_days),
    }
    run_sql(url, "dbt_bulk_next_day.sql", day=next_day, **sizes, **per_day)
    return next_day, per_day


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    world_arguments(parser, 1_000_000, 3_000_000, 10_000_000, "loyalty_bench")
    args = parser.parse_args()

    admin_url, url = scratch_database(args.database)
    try:
        sizes = write_world(url, args)
        run_dbt(["parse"], url)  # dbt's imports and parse, outside the timings

        loads = {"full refresh": load_average()}
        full_refresh = ["build", "--selector", "features", "--full-refresh"]
        full, full_slowest, full_parts = timed_dbt(full_refresh, url, args.run_date)
        loads["full refresh"] += f" → {load_average()}"
        loads["floor"] = load_average()
        floor = run_sql(url, "dbt_floor.sql", run_date=args.run_date)
        loads["floor"] += f" → {load_average()}"

        next_day, per_day = load_next_day(url, args, sizes)
        loads["incremental"] = load_average()
        daily = ["build", "--selector", "features"]
        incremental, incremental_slowest, incremental_parts = timed_dbt(daily, url, next_day)
        loads["incremental"] += f" → {load_average()}"
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{args.database}" with (force)')

    print(f"\n{'what':<58}{'seconds':>10}   load average (1 min, before → after)")
    print(f"{'floor: one CREATE TABLE AS of the features join':<58}{floor:>10.1f}   {loads['floor']}")
    print(f"{'dbt build --selector features --full-refresh':<58}{full:>10.1f}   {loads['full refresh']}")
    print(f"{'dbt build --selector features, one new day':<58}{incremental:>10.1f}   {loads['incremental']}")
    print(f"\nincremental / full refresh = {incremental / full:.0%}; full refresh / floor = {full / floor:.1f}x")
    record = results.Recorder(args.results, "dbt_build")
    size = f"{args.customers:,} customers"
    record(f"full refresh, {size}; ratio ours/CREATE TABLE AS floor, lower is better", full, floor, "s", full / floor)
    record(
        "next day, incremental; ratio ours/full refresh, lower is better", incremental, full, "s", incremental / full
    )
    print(
        f"one new day = {per_day['new_customers']:,} signups, {per_day['new_orders']:,} orders, "
        f"{per_day['new_lines']:,} lines; {os.cpu_count()} cores"
    )
    for title, slowest, parts in (
        ("full refresh", full_slowest, full_parts),
        ("incremental", incremental_slowest, incremental_parts),
    ):
        print(f"\n{title}: node seconds " + ", ".join(f"{part} {total:.1f}" for part, total in parts.items()))
        print("slowest nodes:")
        for node_seconds, node in slowest:
            print(f"  {node_seconds:7.1f} s  {node}")


if __name__ == "__main__":
    main()
