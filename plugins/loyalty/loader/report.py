"""What a load did, per source: the figures `loyalty load` prints and returns as JSON.

rows_read = rows_loaded + rows_quarantined, always (a blank line is not a row). rows_loaded counts every
valid row: rows_inserted new, rows_updated changed, rows_unchanged already present and identical.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["LoadReport", "SourceSummary"]


@dataclass
class SourceSummary:
    entity: str
    source: str
    rows_read: int = 0
    rows_loaded: int = 0
    rows_unchanged: int = 0
    rows_quarantined: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    already_loaded: bool = False
    rows_inserted: int = 0
    rows_updated: int = 0
    checksum: str | None = None
    notes: list[str] = field(default_factory=list)


@dataclass
class LoadReport:
    load_id: str
    sources: list[SourceSummary] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def to_json(self) -> str:
        return json.dumps(self.as_dict(), indent=2)
