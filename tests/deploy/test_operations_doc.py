"""docs/operations.md cites measured capacity, not remembered or invented figures."""

from __future__ import annotations

import re

from loyalty.paths import PROJECT_ROOT

OPERATIONS = PROJECT_ROOT / "docs" / "operations.md"
BENCHMARKS = PROJECT_ROOT / "docs" / "benchmarks.md"
FIGURE = re.compile(r"\d[\d,]*(?:\.\d+)?")


def capacity_rows() -> list[list[str]]:
    section = OPERATIONS.read_text().split("## Capacity: what is measured now", 1)[1].split("\n## ", 1)[0]
    rows = [line.strip("|").split("|") for line in section.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row] for row in rows[1:]]  # the header row out


def test_every_measured_figure_is_in_the_benchmarks() -> None:
    """Each number of the capacity table's `measured` column appears in docs/benchmarks.md."""
    benchmarks = BENCHMARKS.read_text()
    rows = capacity_rows()
    assert len(rows) >= 8
    missing = [
        (row[0], figure)
        for row in rows
        for figure in FIGURE.findall(row[1])
        if figure not in benchmarks and figure not in {"1", "2", "4", "8"}  # counts of tasks, processes, threads
    ]
    assert missing == []
