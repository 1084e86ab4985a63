"""The figures of `make bench` (bench/run_all.py) as one table: the JSON lines each bench script appends with
`--results`, read back, formatted for the terminal (rich) and for docs/benchmarks.md.

Pure functions, apart from reading a results file: here (not in bench/, which is not a package) so the unit tests
can import them.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from rich.table import Table

COLUMNS = ("bench", "figure", "ours", "baseline", "ratio", "peak MiB", "load avg (1 min)")
BEGIN = "<!-- make bench: begin (written by bench/run_all.py; edit outside these markers) -->"
END = "<!-- make bench: end -->"
MISSING = "—"


@dataclass(frozen=True)
class Figure:
    """One figure of one bench script: ours next to the baseline measured in the same run.

    `ratio` is the script's own (the figure's name says which way is better); `load_1min` is filled in by
    run_all after the script ends, `failed` when the script exited non-zero (its row then holds no figure).
    """

    bench: str
    figure: str
    ours: float | None
    baseline: float | None = None
    unit: str = ""
    ratio: float | None = None
    peak_mib: float | None = None
    load_1min: float | None = None
    failed: str | None = None

    def to_json(self) -> str:
        """One results line: what a bench script appends (run_all's fields left out)."""
        record = asdict(self)
        del record["load_1min"], record["failed"]
        return json.dumps(record)

    @classmethod
    def from_json(cls, line: str) -> Figure:
        """A results line back; unknown keys are an error, so a typo in a script does not pass unseen."""
        record = json.loads(line)
        known = {field.name for field in fields(cls)}
        if unknown := set(record) - known:
            raise ValueError(f"unknown keys in a bench results line: {sorted(unknown)}")
        return cls(**record)


def failure(bench: str, reason: str, load_1min: float | None = None) -> Figure:
    """The row of a script that did not finish: the table shows it failed rather than leaving it out."""
    return Figure(bench=bench, figure=f"FAILED: {reason}", ours=None, load_1min=load_1min, failed=reason)


def read_results(path: Path) -> list[Figure]:
    """Every figure a script appended to `path` (none if it wrote no file); blank lines skipped."""
    if not path.exists():
        return []
    return [Figure.from_json(line) for line in path.read_text().splitlines() if line.strip()]


def number(value: float | None) -> str:
    """A figure with the digits that matter at its size: 45,123 / 85.9 / 2.80 / 0.426."""
    if value is None or not math.isfinite(value):
        return MISSING
    size = abs(value)
    if size >= 100:
        return f"{value:,.0f}"
    if size >= 10:
        return f"{value:.1f}"
    if size >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def with_unit(value: float | None, unit: str) -> str:
    text = number(value)
    return f"{text} {unit}" if unit and text != MISSING else text


def ratio(value: float | None) -> str:
    """A ratio as `1.99×`, `13×` or `1,173×` (no decimals once the second one stops mattering)."""
    if value is None or not math.isfinite(value):
        return MISSING
    return f"{value:,.0f}×" if abs(value) >= 10 else f"{value:.2f}×"


def cells(figure: Figure) -> list[str]:
    """The row of `figure` in COLUMNS' order."""
    load = MISSING if figure.load_1min is None else f"{figure.load_1min:.1f}"
    if figure.failed is not None:
        return [figure.bench, figure.figure, MISSING, MISSING, MISSING, MISSING, load]
    return [
        figure.bench,
        figure.figure,
        with_unit(figure.ours, figure.unit),
        with_unit(figure.baseline, figure.unit),
        ratio(figure.ratio),
        number(figure.peak_mib),
        load,
    ]


def rich_table(figures: list[Figure], caption: str) -> Table:
    table = Table(title="make bench", caption=caption)
    for column in COLUMNS:
        table.add_column(column, justify="left" if column in {"bench", "figure"} else "right")
    for figure in figures:
        table.add_row(*cells(figure), style="bold red" if figure.failed else None)
    return table


def markdown_table(figures: list[Figure]) -> str:
    """The same table in Markdown; a `|` inside a cell is escaped so it cannot split the row."""
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "|".join("---" if i < 2 else "---:" for i in range(7)) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in cells(figure)) + " |" for figure in figures]
    return "\n".join(lines) + "\n"


def memory_gib(meminfo: str) -> float:
    """MemTotal of a /proc/meminfo text, in GiB."""
    for line in meminfo.splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 2**20
    raise ValueError("no MemTotal line in /proc/meminfo")


def markdown_section(header: dict[str, str], figures: list[Figure]) -> str:
    """The generated part of docs/benchmarks.md: the run's machine and versions, the table, how to repeat it."""
    facts = "; ".join(f"{key} {value}" for key, value in header.items())
    return (
        f"{BEGIN}\n"
        "## Latest `make bench` run\n\n"
        f"{facts}.\n\n"
        f"{markdown_table(figures)}\n"
        "Reproduce with `make bench` (every script in bench/ at the default size, under 15 minutes on 2 cores) or "
        "`make bench SIZE=1m` (1M customers, 10M order lines). Each ratio is the script's own: the figure's name "
        "says which way is better. The load average is the machine's after the script, as the machine is shared.\n"
        f"{END}\n"
    )


def replace_section(document: str, section: str) -> str:
    """`document` with its generated section replaced by `section`; the first run puts it before the first
    `## ` heading, so the hand-written text around it (the history of each figure) stays."""
    if BEGIN in document and END in document:
        before, rest = document.split(BEGIN, 1)
        after = rest.split(END, 1)[1].removeprefix("\n")
        return before + section + after
    head, heading, tail = document.partition("\n## ")
    if not heading:
        return document.rstrip("\n") + "\n\n" + section
    return head + "\n" + section + "\n## " + tail
