"""`load(mapping_path)`: every source of a mapping into the raw tables, one transaction per file.

The flow per file: sha256 (the same content loaded before is a no-op) → stream record batches from the
source → parse them with pyarrow (loyalty.loader.parsing) → COPY each batch, as CSV, into a temporary
staging table → one statement classifies, quarantines and upserts (sql/loader/apply.sql) → record the
file in raw.loaded_files. All of it in one transaction: a failure mid-file leaves nothing of that file.
Entities load in dependency order, so an order's customer may come from the same load.
Everything is checked before anything loads: the mapping, every glob, every file's header.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql

from loyalty import warehouse
from loyalty.loader.entities import ENTITIES, Entity
from loyalty.loader.mapping import EntityMapping, MappingError, read_mapping, where
from loyalty.loader.parsing import CANONICAL, formats_of, parse_batch, row_data, translate_values
from loyalty.loader.report import LoadReport, SourceSummary
from loyalty.loader.sources import DatabaseSource, FileSource, Malformed, SourceBatch, resolve_sources
from loyalty.sql_files import query

__all__ = ["apply_sql", "load"]

log = logging.getLogger(__name__)
META_COLUMNS = ("source_line", "read_reason", "read_field", "row_data")
COPY_OPTIONS = pa_csv.WriteOptions(include_header=False, batch_size=65536)


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
    with warehouse.connect(url or warehouse.resolve_url(), autocommit=True) as conn:
        if conn.execute("select to_regclass('raw.loaded_files')").fetchone() == (None,):
            warehouse.run_sql_file(conn, "schema.sql")  # a warehouse older than the loader
        for entity, entity_mapping, source, header in plan:
            summary = _load_source(conn, entity, entity_mapping, source, header, timezone, report.load_id)
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
            conn.execute(query("loader/create_stage.sql", identifiers={"target": sql.Identifier("raw", entity.table)}))
            malformed = Malformed()
            batches: Iterator[SourceBatch] = iter(())
            if header is not None:  # a database source's header is its columns' types, never None
                batches = source.batches(mapping, header, malformed)
            column_map = mapping.column_map()
            fields = [name for name in entity.field_names if name in column_map]  # staged, then applied
            _copy(conn, entity, mapping, fields, timezone, batches, malformed)
            if isinstance(source, DatabaseSource):
                checksum = summary.checksum = source.checksum_of_stream
                assert checksum is not None
                if _seen(conn, entity, checksum):
                    raise _AlreadyLoaded
            _apply(conn, entity, column_map, fields, source.label, load_id, summary)
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


def _copy(
    conn: psycopg.Connection,
    entity: Entity,
    mapping: EntityMapping,
    fields: list[str],
    timezone: str,
    batches: Iterator[SourceBatch],
    malformed: Malformed,
) -> None:
    """COPY every parsed batch into load_stage as CSV (pyarrow writes it; no per-row Python). A batch is sent
    on a thread while the next one is parsed; one batch at most is in flight."""
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in (*META_COLUMNS, *fields))
    statement = query("loader/copy_stage.sql", identifiers={"columns": columns})
    text_formats = formats_of(mapping, timezone)
    typed_formats = replace(CANONICAL, timezone=timezone)  # a typed column's text is ISO, in the mapping's timezone
    with conn.cursor().copy(statement) as copy, ThreadPoolExecutor(max_workers=1) as sender:
        sent: Future[None] | None = None

        def send(data: bytes) -> None:
            nonlocal sent
            if sent is not None:
                sent.result()  # the previous batch is in: its error, if any, raises here
            sent = sender.submit(copy.write, data)

        for batch in batches:
            formats = {name: typed_formats if name in batch.typed else text_formats for name in batch.texts}
            texts = translate_values(batch.texts, mapping.values)
            parsed = parse_batch(entity, texts, formats, batch.read_reason, batch.read_field)
            failing = pc.is_valid(parsed.reason)
            documents = row_data(batch.originals, failing)
            if batch.records is not None:  # a record over several lines: all its columns, not only the mapped ones
                documents = pc.coalesce(batch.records, documents)
            table = pa.table(
                {
                    "source_line": batch.lines,
                    "read_reason": parsed.reason,
                    "read_field": parsed.reason_field,
                    "row_data": documents,
                    **{name: parsed.values[name] for name in fields},
                }
            )
            send(_csv(table))
        if malformed.rows:  # known only once the whole source is read
            lines = [line for line, _ in malformed.rows]
            documents = [json.dumps({"line": text}, ensure_ascii=False) for _, text in malformed.rows]
            table = pa.table(
                {
                    "source_line": pa.array(lines, pa.int64()),
                    "read_reason": pa.array(["malformed_row"] * len(lines)),
                    "read_field": pa.nulls(len(lines), pa.string()),
                    "row_data": pa.array(documents, pa.string()),
                    **{name: pa.nulls(len(lines), pa.string()) for name in fields},
                }
            )
            send(_csv(table))
        if sent is not None:
            sent.result()


def _csv(table: pa.Table) -> bytes:
    buffer = io.BytesIO()
    pa_csv.write_csv(_utc_text(table), buffer, COPY_OPTIONS)
    return buffer.getvalue()


def _utc_text(table: pa.Table) -> pa.Table:
    """Timestamps with a time zone as `<UTC wall time>+00` text: pyarrow formats a zoned timestamp through
    the time zone database (~1 s per million values), a naive one in ~30 ms."""
    for index, column in enumerate(table.schema):
        if pa.types.is_timestamp(column.type) and column.type.tz is not None:
            wall_time = pc.cast(table.column(index), pa.timestamp(column.type.unit))  # the UTC wall time
            text = pc.binary_join_element_wise(pc.cast(wall_time, pa.string()), "+00", "")
            table = table.set_column(index, column.name, text)
    return table


def apply_sql(entity: Entity, columns: list[str]) -> str:
    """sql/loader/apply.sql shaped for an entity and the fields a mapping gives (names from
    loyalty.loader.entities only, never from the mapping file)."""
    return query(
        "loader/apply.sql",
        structure={
            "table": entity.table,
            "key": entity.key,
            "columns": columns,
            "checks": entity.checks,
            "references": entity.references,
        },
    )


def _apply(
    conn: psycopg.Connection,
    entity: Entity,
    column_map: dict[str, str],
    fields: list[str],
    label: str,
    load_id: str,
    summary: SourceSummary,
) -> None:
    conn.execute(query("loader/lock_target.sql", identifiers={"target": sql.Identifier("raw", entity.table)}))
    conn.execute("analyze load_stage")  # row counts for the planner: a temporary table has no autovacuum
    conn.execute("set local work_mem = '256MB'")  # the duplicate-key hash aggregate holds every key of the file
    row = conn.execute(
        apply_sql(entity, fields),
        {
            "source_table": f"raw.{entity.table}",
            "source_file": label,
            "source_columns": json.dumps(column_map),
            "load_id": load_id,
        },
    ).fetchone()
    assert row is not None
    rows_read, rows_valid, inserted, updated, by_reason = row
    summary.rows_read = rows_read
    summary.rows_loaded = rows_valid
    summary.rows_inserted = inserted
    summary.rows_updated = updated
    summary.rows_unchanged = rows_valid - inserted - updated
    summary.quarantined_by_reason = dict(sorted(by_reason.items()))
    summary.rows_quarantined = sum(by_reason.values())
