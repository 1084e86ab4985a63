"""`make bench`'s table (loyalty_dev.bench_table): the results lines the bench scripts append read back, the
numbers and ratios formatted, and the generated section of docs/benchmarks.md replaced without touching the
hand-written text around it. No timings: these are the pure parts."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest

from loyalty.paths import PROJECT_ROOT
from loyalty_dev.bench_table import (
    BEGIN,
    COLUMNS,
    END,
    MISSING,
    Figure,
    cells,
    failure,
    markdown_section,
    markdown_table,
    memory_gib,
    number,
    ratio,
    read_results,
    replace_section,
    rich_table,
)

BENCH = PROJECT_ROOT / "bench"
HELPERS = {"processes.py", "results.py", "run_all.py"}

LOAD = Figure("load_csv", "loyalty load, 1,000,000 order lines", 344_845.2, 372_517.0, "rows/s", 0.9257, 363.4, 1.24)
WEBHOOK = Figure("webhook_ingest", "events end to end", 45_000.0, 150_000.0, "events/s", 0.3)
MEMORY = Figure("send_throughput", "peak RSS, 10,000 customers", 108.0, None, "MiB", None, 108.0, 0.5)


class TestResultsLines:
    def test_a_figure_survives_the_round_trip(self, tmp_path: Path) -> None:
        """What a script appends (without run_all's load average) reads back as the same figure."""
        path = tmp_path / "results.jsonl"
        path.write_text(f"{WEBHOOK.to_json()}\n\n{MEMORY.to_json()}\n")
        assert read_results(path) == [WEBHOOK, replace(MEMORY, load_1min=None)]

    def test_a_script_that_wrote_nothing_has_no_figures(self, tmp_path: Path) -> None:
        assert read_results(tmp_path / "missing.jsonl") == []

    def test_an_unknown_key_is_an_error_not_a_silent_drop(self, tmp_path: Path) -> None:
        path = tmp_path / "results.jsonl"
        path.write_text('{"bench": "x", "figure": "y", "ours": 1, "peak_mb": 3}\n')
        with pytest.raises(ValueError, match="peak_mb"):
            read_results(path)


class TestFormatting:
    @pytest.mark.parametrize(
        ("value", "text"),
        [(344_845.2, "344,845"), (100.0, "100"), (85.94, "85.9"), (2.8, "2.80"), (0.4261, "0.426"), (None, MISSING)],
    )
    def test_numbers_keep_the_digits_that_matter(self, value: float | None, text: str) -> None:
        assert number(value) == text

    @pytest.mark.parametrize(
        ("value", "text"), [(1.994, "1.99×"), (0.4, "0.40×"), (13.2, "13×"), (1173.4, "1,173×"), (None, MISSING)]
    )
    def test_ratios(self, value: float | None, text: str) -> None:
        assert ratio(value) == text

    def test_a_row_has_every_column_with_units(self) -> None:
        assert cells(LOAD) == [
            "load_csv",
            "loyalty load, 1,000,000 order lines",
            "344,845 rows/s",
            "372,517 rows/s",
            "0.93×",
            "363",
            "1.2",
        ]

    def test_a_missing_baseline_ratio_peak_and_load_show_as_missing(self) -> None:
        assert cells(WEBHOOK)[3:] == ["150,000 events/s", "0.30×", MISSING, MISSING]
        assert cells(MEMORY)[2:5] == ["108 MiB", MISSING, MISSING]

    def test_a_failed_script_has_a_row_that_says_so(self) -> None:
        row = cells(failure("dbt_build", "exit 1 after 42 s", 2.5))
        assert row == ["dbt_build", "FAILED: exit 1 after 42 s", MISSING, MISSING, MISSING, MISSING, "2.5"]


class TestMarkdown:
    def test_the_table_has_a_header_a_rule_and_one_row_a_figure(self) -> None:
        lines = markdown_table([LOAD, failure("dbt_build", "exit 2"), MEMORY]).splitlines()
        assert lines[0] == "| " + " | ".join(COLUMNS) + " |"
        assert lines[1] == "|---|---|---:|---:|---:|---:|---:|"
        assert len(lines) == 5
        assert lines[3] == "| dbt_build | FAILED: exit 2 | — | — | — | — | — |"
        assert all(line.count(" | ") == len(COLUMNS) - 1 for line in lines[2:])

    def test_a_pipe_in_a_figure_cannot_split_its_row(self) -> None:
        line = markdown_table([Figure("b", "a | b", 1.0)]).splitlines()[2]
        assert "a \\| b" in line
        assert len(re.split(r"(?<!\\)\|", line)) == len(COLUMNS) + 2

    def test_the_section_names_the_machine_and_how_to_reproduce(self) -> None:
        section = markdown_section({"cores": "2", "memory": "23.5 GiB"}, [LOAD])
        assert section.startswith(BEGIN) and section.endswith(END + "\n")
        assert "cores 2; memory 23.5 GiB." in section
        assert "`make bench`" in section and "`make bench SIZE=1m`" in section

    def test_the_first_run_puts_the_section_before_the_first_heading(self) -> None:
        document = "# Benchmarks\n\nIntro.\n\n## Webhook ingest\n\nBy hand.\n"
        written = replace_section(document, markdown_section({}, [LOAD]))
        assert written.startswith("# Benchmarks\n\nIntro.\n\n" + BEGIN)
        assert written.endswith(END + "\n\n## Webhook ingest\n\nBy hand.\n")

    def test_a_later_run_replaces_the_section_and_keeps_the_rest(self) -> None:
        document = "# Benchmarks\n\nIntro.\n\n## Webhook ingest\n\nBy hand.\n"
        first = replace_section(document, markdown_section({}, [LOAD]))
        second = replace_section(first, markdown_section({}, [MEMORY]))
        assert second.count(BEGIN) == 1 and second.count(END) == 1
        assert "loyalty load" not in second and "peak RSS, 10,000 customers" in second
        assert second.replace(markdown_section({}, [MEMORY]), "") == first.replace(markdown_section({}, [LOAD]), "")

    def test_memory_from_proc_meminfo(self) -> None:
        assert memory_gib("MemFree: 1 kB\nMemTotal:       24576000 kB\n") == pytest.approx(23.4375)
        with pytest.raises(ValueError):
            memory_gib("MemFree: 1 kB\n")


class TestEveryScriptIsInTheRun:
    @pytest.mark.parametrize("script", sorted(p.name for p in BENCH.glob("*.py") if p.name not in HELPERS))
    def test_each_bench_script_records_results_and_runs_at_both_sizes(self, script: str) -> None:
        """A new bench script that run_all does not run, or that writes no results line, fails here."""
        assert "results.Recorder(args.results" in (BENCH / script).read_text()
        run_all = (BENCH / "run_all.py").read_text()
        assert run_all.count(f'"{script.removesuffix(".py")}": [') == 2  # the default size and 1m


def test_the_terminal_table_has_the_same_columns_and_rows() -> None:
    table = rich_table([LOAD, failure("dbt_build", "exit 2")], "cores 2")
    assert [column.header for column in table.columns] == list(COLUMNS)
    assert table.row_count == 2
    assert table.caption == "cores 2"
