"""`loyalty load`'s table: one row per source, the counts side by side, reasons spelled out."""

from __future__ import annotations

from rich.table import Table

from loyalty.loader.report import LoadReport

__all__ = ["render_table"]


def render_table(report: LoadReport) -> Table:
    table = Table(title=f"load {report.load_id}", title_justify="left")
    for column in ("entity", "source", "read", "loaded", "new", "changed", "unchanged", "quarantined", "reasons"):
        table.add_column(column, justify="right" if column not in {"entity", "source", "reasons"} else "left")
    for summary in report.sources:
        reasons = ", ".join(f"{reason} {count}" for reason, count in summary.quarantined_by_reason.items())
        notes = "; ".join(summary.notes)
        table.add_row(
            summary.entity,
            summary.source,
            str(summary.rows_read),
            str(summary.rows_loaded),
            str(summary.rows_inserted),
            str(summary.rows_updated),
            str(summary.rows_unchanged),
            str(summary.rows_quarantined),
            "; ".join(part for part in (reasons, notes) if part),
        )
    return table
