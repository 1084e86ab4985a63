"""The `--results PATH` option every bench script shares: one JSON line per figure, appended, so bench/run_all.py
(`make bench`) gathers all the scripts' figures into one table. The line's format is loyalty_dev.bench_table's."""

from __future__ import annotations

import argparse
from pathlib import Path

from loyalty_dev.bench_table import Figure


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--results", type=Path, help="append one JSON line per figure to this file (bench/run_all.py)")


class Recorder:
    """Appends a script's figures to its --results file; does nothing without one (the script's own output stays)."""

    def __init__(self, path: Path | None, bench: str) -> None:
        self.path, self.bench = path, bench

    def __call__(
        self,
        figure: str,
        ours: float,
        baseline: float | None,
        unit: str,
        ratio: float | None,
        peak_mib: float | None = None,
    ) -> None:
        if self.path is None:
            return
        line = Figure(self.bench, figure, ours, baseline, unit, ratio, peak_mib).to_json()
        with self.path.open("a", encoding="utf-8") as out:
            out.write(line + "\n")
