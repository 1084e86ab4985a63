"""`make bench`: every bench script, each in its own process and in turn, then one table of all their figures.

Each script appends its figures to a results file (`--results`, bench/results.py); after each one the 1-minute
load average is taken, as the machine may be shared. The table is printed and written into docs/benchmarks.md
between its `make bench` markers (the hand-written history of each figure around them stays), with the machine's
cores and memory. A script that fails gets a FAILED row; the others still run, and the exit status is 1.

Run: `.venv/bin/python bench/run_all.py [--size default|1m] [--only dag_parse,load_csv] [--markdown PATH]`
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from loyalty_dev.bench_table import Figure, failure, markdown_section, memory_gib, read_results, replace_section
from loyalty_dev.bench_table import rich_table as make_rich_table

ROOT = Path(__file__).resolve().parent.parent
BENCH = Path(__file__).resolve().parent

# Arguments per script and size. `default` is a tenth of `1m` in customers and order lines (fewer emails and SMS,
# whose rates do not depend on size), chosen so the whole run, `make install` included, stays under 15 minutes on
# 2 cores from a fresh clone even beside another test run (measured: docs/benchmarks.md gives each script's time).
# `1m` is the retailer scale the scripts document: 1M customers, 3M orders, 10M order lines.
SIZES: dict[str, dict[str, list[str]]] = {
    "default": {
        "dag_parse": ["1", "10", "50"],
        "webhook_ingest": ["--events", "50000"],
        "raw_checks": ["--customers", "100000", "--orders", "300000", "--lines", "1000000"],
        "dbt_build": ["--customers", "100000", "--orders", "300000", "--lines", "1000000"],
        "load_csv": ["--rows", "1000000", "--reexport"],
        "send_throughput": ["--emails", "20000", "--sms", "4000", "--ledger-rows", "100000"],
    },
    "1m": {
        "dag_parse": ["1", "10", "50"],
        "webhook_ingest": ["--events", "50000"],
        "raw_checks": ["--customers", "1000000", "--orders", "3000000", "--lines", "10000000"],
        "dbt_build": ["--customers", "1000000", "--orders", "3000000", "--lines", "10000000"],
        "load_csv": ["--rows", "10000000", "--reexport"],
        "send_throughput": ["--ledger-rows", "1000000", "--memory-sizes", "100000,1000000"],
    },
}


def run_script(name: str, arguments: list[str], results_dir: Path) -> tuple[list[Figure], float]:
    """The script's figures (a FAILED row added if it exited non-zero) and its wall seconds; its output streams
    through, so a long run shows where it is."""
    results = results_dir / f"{name}.jsonl"
    command = [sys.executable, "-u", str(BENCH / f"{name}.py"), *arguments, "--results", str(results)]
    print(f"\n=== {name}: {' '.join(arguments)}", flush=True)
    started = time.perf_counter()
    exit_code = subprocess.run(command, cwd=ROOT, check=False).returncode
    seconds = time.perf_counter() - started
    load = os.getloadavg()[0]
    try:
        figures = [replace(figure, load_1min=load) for figure in read_results(results)]
    except ValueError as error:  # a malformed line fails this script's row, not the whole run
        figures, exit_code = [], exit_code or 1
        print(f"{name}: unreadable results: {error}", file=sys.stderr)
    if exit_code != 0:
        figures.append(failure(name, f"exit {exit_code} after {seconds:.0f} s", load))
    elif not figures:
        figures.append(failure(name, "no figures recorded", load))
    print(f"=== {name}: {seconds:.0f} s, exit {exit_code}, load average {load:.1f}", flush=True)
    return figures, seconds


def git_commit() -> str:
    """The commit measured, `-dirty` when the work tree differs from it."""
    git = shutil.which("git")
    if git is None:
        return "unknown"
    try:
        commit = subprocess.run(
            [git, "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            [git, "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True, text=True
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return commit + ("-dirty" if status.strip() else "")


def postgres_version() -> str:
    """The server the scripts use: LOYALTY_WAREHOUSE_URL's, else the embedded one's binary (no server started)."""
    url = os.environ.get("LOYALTY_WAREHOUSE_URL", "").strip()
    try:
        if url:
            import psycopg

            with psycopg.connect(url, connect_timeout=5) as conn:
                row = conn.execute("show server_version").fetchone()
            return f"PostgreSQL {row[0] if row else '?'} (LOYALTY_WAREHOUSE_URL)"
        import pgserver

        binary = Path(pgserver.__file__).parent / "pginstall" / "bin" / "postgres"
        version = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True).stdout
        return f"{version.strip().replace('postgres (PostgreSQL)', 'PostgreSQL')} (embedded)"
    except Exception as error:  # the header's version is a courtesy: never fail the run for it
        return f"unknown ({type(error).__name__})"


def header(size: str, seconds: dict[str, float]) -> dict[str, str]:
    """What the table's figures depend on: the code, the size, the machine, the versions, and the time each took."""
    return {
        "date": dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "commit": git_commit(),
        "size": size,
        "wall time": f"{sum(seconds.values()) / 60:.1f} min ("
        + ", ".join(f"{name} {taken:.0f} s" for name, taken in seconds.items())
        + ")",
        "cores": str(os.cpu_count()),
        "memory": f"{memory_gib(Path('/proc/meminfo').read_text()):.1f} GiB",
        "Python": platform.python_version(),
        "Postgres": postgres_version(),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", choices=sorted(SIZES), default="default")
    parser.add_argument("--only", default="", help="comma-separated script names (default: every one)")
    parser.add_argument("--markdown", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = parser.parse_args()
    scripts = SIZES[args.size]
    names = [name for name in args.only.split(",") if name] or list(scripts)
    if unknown := set(names) - set(scripts):
        parser.error(f"unknown scripts: {sorted(unknown)}")

    figures: list[Figure] = []
    seconds: dict[str, float] = {}
    with tempfile.TemporaryDirectory(prefix="loyalty-bench-") as results_dir:
        for name in names:
            script_figures, seconds[name] = run_script(name, scripts[name], Path(results_dir))
            figures += script_figures
    facts = header(args.size, seconds)

    caption = "; ".join(f"{key} {value}" for key, value in facts.items())
    Console(width=200).print(make_rich_table(figures, caption))
    document = args.markdown.read_text() if args.markdown.exists() else "# Benchmarks\n"
    args.markdown.write_text(replace_section(document, markdown_section(facts, figures)))
    print(f"written to {args.markdown}")
    return 1 if any(figure.failed for figure in figures) else 0


if __name__ == "__main__":
    sys.exit(main())
