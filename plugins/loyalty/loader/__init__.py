"""Bring your own data: `loyalty load --mapping MAPPING.yml` puts CSV, Parquet or Postgres sources into the
raw tables — streamed, parsed and checked per batch, valid new rows COPYed straight in, the rest upserted in
SQL, every bad row quarantined with its file, line, column and reason, each file loaded once and whole or
not at all.

Lines are physical lines (the header is 1). A CSV record whose quoted value holds a line break is not loaded:
it is quarantined whole as `malformed_row` at the line it starts on, and the lines after it keep their numbers
(loyalty.loader.sources says why; a quote never closed past 8 MiB is a SourceError for the file).

See loyalty.loader.run for the flow and docs/architecture.md ("Loading your own data")."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loyalty.loader.mapping import LoadMapping, MappingError, mapping_json_schema, read_mapping
    from loyalty.loader.report import LoadReport, SourceSummary
    from loyalty.loader.run import load
    from loyalty.loader.sources import SourceError

# Imported on first use: the receiver reads loyalty.loader.entities (the app's event types) and must not
# pay for pyarrow, pandas and pydantic in every worker process.
_EXPORTS = {
    "LoadMapping": "loyalty.loader.mapping",
    "MappingError": "loyalty.loader.mapping",
    "mapping_json_schema": "loyalty.loader.mapping",
    "read_mapping": "loyalty.loader.mapping",
    "LoadReport": "loyalty.loader.report",
    "SourceSummary": "loyalty.loader.report",
    "load": "loyalty.loader.run",
    "SourceError": "loyalty.loader.sources",
}

__all__ = [
    "LoadMapping",
    "LoadReport",
    "MappingError",
    "SourceError",
    "SourceSummary",
    "load",
    "mapping_json_schema",
    "read_mapping",
]


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(_EXPORTS[name]), name)
