"""`load(mapping_path)`: every source of a mapping into the raw tables, one transaction per file.

The flow per file: sha256 (the same content loaded before is a no-op) → stream record batches from the
source → parse and value-check them with pyarrow (loyalty.loader.parsing) → write each batch
(loyalty.loader.writer: references looked up, valid rows COPY'd straight into raw, the rest staged,
quarantined or upserted) → record the file in raw.loaded_files. All of it in one transaction: a failure
mid-file leaves nothing of that file.
Entities load in dependency order, so an order's customer may come from the same load.
Everything is checked before anything loads: the mapping, every glob, every file's header.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg

from loyalty import warehouse
from loyalty.loader.entities import ENTITIES, Entity
from loyalty.loader.lookups import ReferenceLookups
from loyalty.loader.mapping import EntityMapping, MappingError, read_mapping, where
from loyalty.loader.parsing import CANONICAL, PreparedBatch, check_values, formats_of, parse_batch, translate_values
from loyalty.loader.report import LoadReport, SourceSummary
from loyalty.loader.sources import DatabaseSource, FileSource, Malformed, SourceBatch, resolve_sources
from loyalty.loader.writer import FileCounts, FileWriter
from loyalty.sql_files import query

__all__ = ["load"]

log = logging.getLogger(__name__)


class _AlreadyLoaded(Exception):
    """A database source whose streamed content turned out to be loaded before: roll its load back."""


def _check_columns(
    mapping_path: Path, text: str, entity: str, mapping: EntityMapping, found: list[str] | None, label: str
) -> None:
    if found is None:
        return  # a file of 0 bytes: nothing to check, nothing to load
    missing = {name: column for name, column in mapping.column_map().items() if column not in found}
    if missing:
        problems = [
            f"{where(mapping_path, text, 'entities', entity, 'columns', name)}: column {column!r} is not in {label}"
            for name, column in missing.items()
        ]
        raise MappingError("\n".join(problems) + f"\n  {label} has: {', '.join(found) or '(no columns)'}")


def _plan(mapping_path: Path) -> tuple[str, list[tuple[Entity, EntityMapping, Any, Any]]]:
    """Every (entity, mapping, source, header) to load, checked before anything loads."""
    mapping, text = read_mapping(mapping_path)
    plan = []
    for name, entity_mapping in mapping.by_entity().items():
        for source in resolve_sources(mapping_path, text, name, entity_mapping):
            if isinstance(source, FileSource):
                header: Any = source.header(entity_mapping)
                _check_columns(mapping_path, text, name, entity_mapping, header, source.label)
            else:
                header = source.describe()
                _check_columns(mapping_path, text, name, entity_mapping, list(header), source.label)
            plan.append((ENTITIES[name], entity_mapping, source, header))
    return mapping.timezone, plan


def load(mapping_path: Path, url: str | None = None) -> LoadReport:
    """Load every source the mapping names into the raw tables (the warehouse at `url`, default resolved).

    Raises MappingError (the mapping is wrong: a field, a column not in a file, a glob matching nothing)
    or SourceError (a source cannot be read); bad rows never raise, they are quarantined and counted."""
    timezone, plan = _plan(mapping_path)
    report = LoadReport(load_id=uuid.uuid4().hex)
    url = url or warehouse.resolve_url()
    with warehouse.connect(url, autocommit=True) as conn, warehouse.connect(url, autocommit=True) as lookup_conn:
        if conn.execute("select to_regclass('raw.loaded_files')").fetchone() == (None,):
            warehouse.init_schema(url)  # a warehouse older than the loader
        for entity, entity_mapping, source, header in plan:
            summary = _load_source(conn, lookup_conn, entity, entity_mapping, source, header, timezone, report.load_id)
            log.info(
                "%s %s: read %s, loaded %s (%s new, %s changed), quarantined %s %s%s",
                summary.entity,
                summary.source,
                summary.rows_read,
                summary.rows_loaded,
                summary.rows_inserted,
                summary.rows_updated,
                summary.rows_quarantined,
                summary.quarantined_by_reason or "",
                " (already loaded)" if summary.already_loaded else "",
            )
            report.sources.append(summary)
    return report


def _load_source(
    conn: psycopg.Connection,
    lookup_conn: psycopg.Connection,
    entity: Entity,
    mapping: EntityMapping,
    source: FileSource | DatabaseSource,
    header: Any,
    timezone: str,
    load_id: str,
) -> SourceSummary:
    summary = SourceSummary(entity=entity.name, source=source.label)
    checksum = source.checksum() if isinstance(source, FileSource) else None
    summary.checksum = checksum
    try:
        with conn.transaction():
            if checksum is not None and _seen(conn, entity, checksum):
                summary.already_loaded = True
                summary.notes.append("already loaded (same content): nothing to do")
                return summary
            if header is None:
                summary.notes.append("empty file (0 bytes)")
            malformed = Malformed()
            batches: Iterator[SourceBatch] = iter(())
            if header is not None:  # a database source's header is its columns' types, never None
                batches = source.batches(mapping, header, malformed)
            column_map = mapping.column_map()
            fields = [name for name in entity.field_names if name in column_map]  # staged, then applied
            writer = FileWriter(conn, entity, fields, column_map, source.label, load_id)
            lookups = ReferenceLookups(lookup_conn, entity, fields)
            writer.write_all(_prepared(entity, mapping, timezone, batches, lookups))
            writer.write_malformed(malformed.rows)  # known only once the whole source is read
            writer.finish()
            if isinstance(source, DatabaseSource):
                checksum = summary.checksum = source.checksum_of_stream
                assert checksum is not None
                if _seen(conn, entity, checksum):
                    raise _AlreadyLoaded
            _count(summary, writer.counts)
            if summary.rows_read == 0 and header is not None:
                summary.notes.append("no rows (header only)" if isinstance(source, FileSource) else "no rows")
            conn.execute(
                query("loader/record_file.sql"),
                {
                    "entity": entity.name,
                    "checksum": checksum,
                    "source": source.label,
                    "load_id": load_id,
                    "rows_read": summary.rows_read,
                    "rows_loaded": summary.rows_loaded,
                    "rows_unchanged": summary.rows_unchanged,
                    "rows_quarantined": summary.rows_quarantined,
                },
            )
    except _AlreadyLoaded:
        summary.already_loaded = True
        summary.notes.append("already loaded (same content): nothing to do")
    return summary


def _seen(conn: psycopg.Connection, entity: Entity, checksum: str) -> bool:
    params = {"entity": entity.name, "checksum": checksum}
    conn.execute(query("loader/lock_file.sql"), params)
    return conn.execute(query("loader/file_seen.sql"), params).fetchone() is not None


def _prepared(
    entity: Entity,
    mapping: EntityMapping,
    timezone: str,
    batches: Iterator[SourceBatch],
    lookups: ReferenceLookups,
) -> Iterator[PreparedBatch]:
    """Each source batch parsed and value-checked with pyarrow (no per-row Python), its references looked up:
    on the caller's thread, while the writer's thread writes the batch before."""
    text_formats = formats_of(mapping, timezone)
    typed_formats = replace(CANONICAL, timezone=timezone)  # a typed column's text is ISO, in the mapping's timezone
    for batch in batches:
        formats = {name: typed_formats if name in batch.typed else text_formats for name in batch.texts}
        texts = translate_values(batch.texts, mapping.values)
        parsed = check_values(entity, parse_batch(entity, texts, formats, batch.read_reason, batch.read_field))
        prepared = PreparedBatch(
            batch.lines, parsed.values, parsed.reason, parsed.reason_field, batch.originals, batch.records
        )
        yield lookups.mark(prepared)


def _count(summary: SourceSummary, counts: FileCounts) -> None:
    summary.rows_read = counts.rows_read
    summary.rows_loaded = counts.rows_loaded
    summary.rows_inserted = counts.rows_inserted
    summary.rows_updated = counts.rows_updated
    summary.rows_unchanged = counts.rows_loaded - counts.rows_inserted - counts.rows_updated
    summary.quarantined_by_reason = dict(sorted(counts.quarantined_by_reason.items()))
    summary.rows_quarantined = sum(counts.quarantined_by_reason.values())
    assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined
