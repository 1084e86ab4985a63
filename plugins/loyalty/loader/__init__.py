"""Bring your own data: `loyalty load --mapping MAPPING.yml` puts CSV, Parquet or Postgres sources into the
raw tables — streamed, parsed and checked per batch, COPYed, classified and upserted in SQL, every bad row
quarantined with its file, line, column and reason, each file loaded once and whole or not at all.

Lines are physical lines (the header is 1). A CSV record whose quoted value holds a line break is not loaded:
it is quarantined whole as `malformed_row` at the line it starts on, and the lines after it keep their numbers
(loyalty.loader.sources says why; a quote never closed past 8 MiB is a SourceError for the file).

See loyalty.loader.run for the flow and docs/architecture.md ("Loading your own data")."""

from loyalty.loader.mapping import LoadMapping, MappingError, mapping_json_schema, read_mapping
from loyalty.loader.report import LoadReport, SourceSummary
from loyalty.loader.run import load
from loyalty.loader.sources import SourceError

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
