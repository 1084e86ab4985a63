"""How fast `loyalty load` brings a retailer's CSV into raw, against a bare COPY of the same file.

Writes a CSV of N order lines (default 10,000,000; streamed to a scratch folder, never held in memory)
and a mapping for it, then times, each in its own process so its peak RSS is its own:

- baseline: a bare `COPY raw.order_lines FROM STDIN (FORMAT csv, HEADER)` of the file, streamed in
  1 MiB chunks through psycopg, into a fresh scratch table of raw.order_lines' shape (its key and
  indexes included), no parsing, no validation;
- ours: `loyalty.loader.load(mapping)` with validation on, into raw.order_lines (emptied first): every
  value parsed, the value checks, duplicate keys, and each line's order and product looked up in
  raw.orders and raw.products (written first with generate_series, so every line loads).

Give --rows twice (e.g. `--rows 1000000 --rows 10000000`) to see the loader's peak memory at two file
sizes: it should be flat in file size. The scratch database `loyalty_bench_load` is created on the server of
LOYALTY_WAREHOUSE_URL (else the embedded Postgres) and dropped at the end unless --keep.

Run: `.venv/bin/python bench/load_csv.py [--rows N [--rows M]] [--results PATH]`
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import psycopg

import results
from dbt_build import load_average, scratch_database
from loyalty import warehouse
from processes import in_child, peak_mib

CHUNK_BYTES = 1 << 20
WRITE_BATCH_ROWS = 100_000
PRODUCTS = 1_000
LINES_PER_ORDER = 3
HEADER = "order_line_id,order_id,product_id,quantity,unit_price\n"
MAPPING = """\
entities:
  order_lines:
    source:
      path: {file_name}
    format: csv
    columns:
      order_line_id: order_line_id
      order_id: order_id
      product_id: product_id
      quantity: quantity
      unit_price: unit_price
"""


def write_order_lines(path: Path, rows: int, changed_every: int = 0) -> float:
    """N order lines as CSV, written in batches (memory stays that of one batch); seconds taken. With
    `changed_every` k, the same lines with every k-th line's quantity one more (a corrected re-export)."""
    started = time.perf_counter()
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write(HEADER)
        for start in range(0, rows, WRITE_BATCH_ROWS):
            out.write(
                "".join(
                    f"L{line:010d},O{line // LINES_PER_ORDER:09d},{line * 7_919 % PRODUCTS + 1},"
                    f"{line % 3 + 1 + (changed_every > 0 and line % changed_every == 0)},"
                    f"{(line * 31 % 20_000 + 99) / 100:.2f}\n"
                    for line in range(start, min(start + WRITE_BATCH_ROWS, rows))
                )
            )
    return time.perf_counter() - started


def write_mapping(folder: Path, csv_path: Path) -> Path:
    mapping = folder / f"{csv_path.stem}.mapping.yml"
    mapping.write_text(MAPPING.format(file_name=csv_path.name))
    return mapping


def write_references(url: str, rows: int) -> None:
    """The products and orders the lines refer to, so the loader's reference checks find them."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("truncate raw.products, raw.orders")
        conn.execute(
            "insert into raw.products (product_id, product_name, category, unit_price) "
            "select product_id, 'product ' || product_id, 'apparel', 10 from generate_series(1, %s) as product_id",
            [PRODUCTS],
        )
        conn.execute(
            "insert into raw.orders (order_id, customer_id, ordered_at, status, order_total) "
            "select 'O' || lpad(number::text, 9, '0'), number, '2026-01-01', 'completed', 10 "
            "from generate_series(0, %s) as number",
            [(rows - 1) // LINES_PER_ORDER],
        )
        conn.execute("analyze raw.products, raw.orders")


def _bare_copy(url: str, csv_path: str) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, rows) of one bare COPY of the file into a fresh copy of raw.order_lines."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("create schema if not exists bench")
        conn.execute("drop table if exists bench.order_lines_copy")
        conn.execute("create table bench.order_lines_copy (like raw.order_lines including all)")
    started = time.perf_counter()
    with psycopg.connect(url) as conn, conn.cursor() as cursor, open(csv_path, "rb") as source:
        columns = "order_line_id, order_id, product_id, quantity, unit_price"
        with cursor.copy(f"copy bench.order_lines_copy ({columns}) from stdin (format csv, header)") as copy:
            while chunk := source.read(CHUNK_BYTES):
                copy.write(chunk)
        rows = cursor.rowcount
    return time.perf_counter() - started, peak_mib(), rows


def _loader(url: str, mapping_path: str, empty_first: bool = True) -> tuple[float, float, int]:
    """(seconds, peak RSS MiB, rows loaded) of one `loyalty.loader.load` of the mapping."""
    from loyalty.loader import load  # imported here: the bench's baseline runs without the loader

    if empty_first:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute("truncate raw.order_lines, raw.quarantine")
    started = time.perf_counter()
    report = load(Path(mapping_path), url=url)
    seconds = time.perf_counter() - started
    return seconds, peak_mib(), sum(source.rows_loaded for source in report.sources)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, action="append", help="order lines in the CSV (give twice for two sizes)")
    parser.add_argument("--scratch", type=Path, help="folder for the CSV files (default: a temporary folder)")
    parser.add_argument("--skip-loader", action="store_true", help="time the bare COPY alone")
    parser.add_argument(
        "--reexport",
        action="store_true",
        help="then load a corrected re-export of the same lines (every 10th changed): every key is in raw",
    )
    parser.add_argument("--database", default="loyalty_bench_load")
    parser.add_argument("--keep", action="store_true", help="keep the scratch database and CSV files")
    results.add_argument(parser)
    args = parser.parse_args()
    sizes = args.rows or [10_000_000]

    scratch = args.scratch or Path(tempfile.mkdtemp(prefix="loyalty-bench-load-"))
    scratch.mkdir(parents=True, exist_ok=True)
    admin_url, url = scratch_database(args.database)
    figures: list[tuple[int, str, float, float, int, str]] = []
    baseline, ours = "baseline: bare COPY", "ours: loyalty.loader.load"
    reexport = "ours: re-export, 10% changed"
    try:
        warehouse.init_schema(url)
        for rows in sizes:
            csv_path = scratch / f"order_lines_{rows}.csv"
            seconds = write_order_lines(csv_path, rows)
            size_mib = csv_path.stat().st_size / 2**20
            print(f"{rows:,} order lines: {size_mib:,.0f} MiB of CSV written in {seconds:.0f} s", flush=True)
            mapping = write_mapping(scratch, csv_path)
            write_references(url, rows)

            before = load_average()
            seconds, peak, loaded = in_child(_bare_copy, url, str(csv_path))
            figures.append((rows, baseline, seconds, peak, loaded, f"{before} → {load_average()}"))
            print(f"  bare COPY: {seconds:.1f} s", flush=True)
            with psycopg.connect(url, autocommit=True) as conn:
                conn.execute("drop table bench.order_lines_copy")  # its disk back before the loader runs

            if not args.skip_loader:
                before = load_average()
                seconds, peak, loaded = in_child(_loader, url, str(mapping))
                figures.append((rows, ours, seconds, peak, loaded, f"{before} → {load_average()}"))
                print(f"  loader: {seconds:.1f} s", flush=True)
            if args.reexport and not args.skip_loader:
                changed_path = scratch / f"order_lines_{rows}_corrected.csv"
                write_order_lines(changed_path, rows, changed_every=10)
                before = load_average()
                seconds, peak, loaded = in_child(_loader, url, str(write_mapping(scratch, changed_path)), False)
                figures.append((rows, reexport, seconds, peak, loaded, f"{before} → {load_average()}"))
                print(f"  loader, re-export: {seconds:.1f} s", flush=True)
                if not args.keep:
                    changed_path.unlink()
            if not args.keep:
                csv_path.unlink()
    finally:
        if not args.keep:
            with psycopg.connect(admin_url, autocommit=True) as admin:
                admin.execute(f'drop database if exists "{args.database}" with (force)')
            if not args.scratch:
                shutil.rmtree(scratch, ignore_errors=True)

    columns = f"{'rows':>12}  {'what':<28}{'seconds':>9}{'rows/s':>12}{'peak MiB':>10}{'loaded':>12}"
    print(f"\n{columns}   load average (1 min)")
    for rows, what, seconds, peak, loaded, loads in figures:
        print(f"{rows:>12,}  {what:<28}{seconds:>9.1f}{loaded / seconds:>12,.0f}{peak:>10.0f}{loaded:>12,}   {loads}")
    record = results.Recorder(args.results, "load_csv")
    for rows in sizes:
        rates = {what: loaded / seconds for size, what, seconds, _, loaded, _ in figures if size == rows}
        peaks = {what: peak for size, what, _, peak, _, _ in figures if size == rows}
        if ours in rates:
            ratio = rates[ours] / rates[baseline]
            print(f"{rows:,} rows: loader / bare COPY = {ratio:.0%} of the rows/s (target ≥ 50%)")
            figure = f"loyalty load, {rows:,} order lines; ratio ours/bare COPY, higher is better"
            record(figure, rates[ours], rates[baseline], "rows/s", ratio, peaks[ours])
        if reexport in rates:
            ratio = rates[reexport] / rates[baseline]
            print(f"{rows:,} rows: re-export (every key in raw, 10% changed) / bare COPY = {ratio:.0%} of the rows/s")
            figure = f"re-export of the {rows:,}, 10% changed; ratio ours/bare COPY, higher is better"
            record(figure, rates[reexport], rates[baseline], "rows/s", ratio, peaks[reexport])
    print(f"{os.cpu_count()} cores")


if __name__ == "__main__":
    main()
