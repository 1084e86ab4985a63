"""How one file's parsed batches reach raw: straight in by COPY where they can, through a staging table where not.

Why two paths: a COPY into the raw table is the fastest write Postgres has, and a first load is all new,
mostly valid rows. Staging every row and classifying it in SQL writes each row twice; that reached 28% of
a bare COPY's rows/s on 10M lines. So, per batch, on one thread that owns the connection while the next
batch parses:

1. rows that broke a rule in the stream (read, parse, value check, unknown reference: see
   loyalty.loader.lookups) arrive marked, and are staged;
2. the valid rows are COPY'd into raw.<table> inside a savepoint, until a batch holds a key already in raw
   (an earlier load's or an earlier line's) or a key twice: its COPY fails on the primary key, the savepoint
   rolls it back, and from that batch on every row is staged;
3. once the file is read, one statement (sql/loader/apply.sql) takes the staged rows: quarantine with file,
   line and column, duplicate keys (the first line wins), new keys inserted, changed rows updated.

Why stage everything after the first conflict rather than only the rows that meet a key: the first line of
a key must win, so no later line may go straight in while an earlier one waits in the stage; and a
re-export, whose every key is in raw, is fastest as one set-based statement (hash joins over the file):
probing raw per batch took 10–20 s per million rows against 6 s.

Counts come from the COPYs and the apply, so rows read = loaded + quarantined holds per file.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
from psycopg import sql

from loyalty.loader.entities import Entity
from loyalty.loader.parsing import PreparedBatch, row_data
from loyalty.sql_files import query

__all__ = ["FileCounts", "FileWriter", "apply_sql"]

META_COLUMNS = ("source_line", "read_reason", "read_field", "row_data")
COPY_OPTIONS = pa_csv.WriteOptions(include_header=False, batch_size=65536)


@dataclass
class FileCounts:
    rows_read: int = 0
    rows_loaded: int = 0
    rows_inserted: int = 0
    rows_updated: int = 0
    quarantined_by_reason: Counter[str] = field(default_factory=Counter)


def apply_sql(entity: Entity, columns: list[str]) -> str:
    """sql/loader/apply.sql shaped for an entity and the fields a mapping gives (names from
    loyalty.loader.entities only, never from the mapping file)."""
    return query("loader/apply.sql", structure={"table": entity.table, "key": entity.key, "columns": columns})


class FileWriter:
    """Writes one file's batches inside the caller's transaction (see the module docstring)."""

    def __init__(
        self,
        conn: psycopg.Connection,
        entity: Entity,
        fields: list[str],
        column_map: dict[str, str],
        label: str,
        load_id: str,
    ) -> None:
        self.conn, self.entity, self.fields = conn, entity, fields
        self.counts = FileCounts()
        self.staging_all = False  # set by the first batch whose COPY met a key: from then on every row is staged
        self.rows_staged = 0
        target = sql.Identifier("raw", entity.table)
        conn.execute(query("loader/lock_target.sql", identifiers={"target": target}))
        conn.execute(query("loader/create_stage.sql", identifiers={"target": target}))
        conn.execute("set local work_mem = '256MB'")  # the apply's repeated-key hash aggregate holds every staged key
        staged = sql.SQL(", ").join(sql.Identifier(c) for c in (*META_COLUMNS, *fields))
        self._copy_stage = query("loader/copy_stage.sql", identifiers={"columns": staged})
        columns = sql.SQL(", ").join(sql.Identifier(c) for c in fields)
        self._copy_target = query("loader/copy_target.sql", identifiers={"target": target, "columns": columns})
        self._apply = apply_sql(entity, fields)
        self._apply_params = {
            "source_table": f"raw.{entity.table}",
            "source_file": label,
            "source_columns": json.dumps(column_map),
            "load_id": load_id,
        }

    def write_all(self, batches: Iterator[PreparedBatch]) -> None:
        """Write every batch; the next one is prepared (parsed, by the caller's iterator) while this one is
        written on a thread: one batch at most is in flight. Call `finish` once the source is read."""
        with ThreadPoolExecutor(max_workers=1) as sender:
            sent: Future[None] | None = None
            for batch in batches:
                if sent is not None:
                    sent.result()  # the previous batch is in: its error, if any, raises here
                sent = sender.submit(self.write, batch)
            if sent is not None:
                sent.result()

    def write(self, batch: PreparedBatch) -> None:
        self.counts.rows_read += len(batch.lines)
        valid = pc.is_null(batch.reason)
        if not self.staging_all and not self._copy_straight(batch, valid):
            self.staging_all = True
        staged = pc.is_valid(batch.lines) if self.staging_all else pc.invert(valid)
        if not pc.any(staged).as_py():
            return
        documents = row_data(batch.originals, pc.invert(valid))
        if batch.records is not None:  # a record over several lines: all its columns, not only the mapped ones
            documents = pc.coalesce(batch.records, documents)
        rows = self._stage_table(batch.lines, batch.reason, batch.reason_field, documents, batch.values)
        self._stage(rows.filter(staged))

    def write_malformed(self, rows: list[tuple[int, str]]) -> None:
        """Records that are not rows of the file (known once it is read): quarantined as they are."""
        if not rows:
            return
        self.counts.rows_read += len(rows)
        count = len(rows)
        documents = [json.dumps({"line": text}, ensure_ascii=False) for _, text in rows]
        self._stage(
            self._stage_table(
                pa.array([line for line, _ in rows], pa.int64()),
                pa.array(["malformed_row"] * count),
                pa.nulls(count, pa.string()),
                pa.array(documents, pa.string()),
                {name: pa.nulls(count, pa.string()) for name in self.fields},
            )
        )

    def finish(self) -> None:
        """Apply the staged rows (see apply.sql), once every batch is in."""
        if not self.rows_staged:
            return
        self.conn.execute("analyze load_stage")  # row counts for the planner: a temporary table has no autovacuum
        row = self.conn.execute(self._apply, self._apply_params).fetchone()
        assert row is not None
        rows_staged, rows_valid, inserted, updated, by_reason = row
        assert rows_staged == self.rows_staged
        self.counts.rows_loaded += rows_valid
        self.counts.rows_inserted += inserted
        self.counts.rows_updated += updated
        self.counts.quarantined_by_reason.update(by_reason)

    def _copy_straight(self, batch: PreparedBatch, rows: pa.Array) -> bool:
        """COPY the `rows` of the batch into the raw table in a savepoint; False (and nothing written) when a
        key is already there or given twice among them."""
        table = pa.table({name: batch.values[name] for name in self.fields}).filter(rows)
        if not table.num_rows:
            return True
        try:
            with self.conn.transaction(), self.conn.cursor().copy(self._copy_target) as copy:
                copy.write(_csv(table))
        except psycopg.errors.UniqueViolation:
            return False
        self.counts.rows_loaded += table.num_rows
        self.counts.rows_inserted += table.num_rows
        return True

    def _stage_table(
        self, lines: pa.Array, reason: pa.Array, field: pa.Array, documents: pa.Array, values: dict[str, pa.Array]
    ) -> pa.Table:
        """Rows in load_stage's shape (META_COLUMNS, then the mapped fields)."""
        meta = dict(zip(META_COLUMNS, (lines, reason, field, documents), strict=True))
        return pa.table({**meta, **{name: values[name] for name in self.fields}})

    def _stage(self, rows: pa.Table) -> None:
        with self.conn.cursor().copy(self._copy_stage) as copy:
            copy.write(_csv(rows))
        self.rows_staged += rows.num_rows


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
