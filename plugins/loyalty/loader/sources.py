"""Where rows come from: CSV and Parquet files (a file or a glob) and Postgres tables or queries.

Every source is read in record batches of strings (never a whole file in memory) with each row's
line (CSV: the physical line, header = 1; Parquet and Postgres: the row number). Rows that cannot be
read as rows (a wrong number of fields, bytes that are not UTF-8 in a UTF-8 file) are not dropped:
they come back with a read error, so the loader quarantines them with their line. A latin-1 or cp1252
file is decoded whole by pyarrow: a byte cp1252 does not define is a SourceError for the file.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from psycopg import sql

from loyalty.loader.mapping import EntityMapping, MappingError, expand_url, where
from loyalty.sql_files import query

__all__ = ["DatabaseSource", "FileSource", "SourceBatch", "SourceError", "resolve_sources"]

BLOCK_SIZE = 8 << 20  # bytes of CSV per record batch: ~100,000 rows of a typical export
READ_AHEAD_BLOCKS = 3  # blocks pyarrow may read past the batches the loader has taken
STALL_SECONDS = 1.0  # a reader held this long while the loader waits on it reads on anyway (never a hang)
PARQUET_BATCH_ROWS = 100_000
TEXT_TYPES = {19, 25, 1042, 1043}  # Postgres name, text, bpchar, varchar: read with the mapping's formats


class SourceError(RuntimeError):
    """A source that cannot be read at all (missing, unreadable, not the declared format)."""


@dataclass
class SourceBatch:
    """`texts`: per mapped field, trimmed strings (null when empty); `originals` the same by source column
    (what a quarantined row shows); `typed`: fields whose source column was typed (read with ISO formats)."""

    lines: pa.Array
    texts: dict[str, pa.Array]
    originals: dict[str, pa.Array]
    read_reason: pa.Array
    read_field: pa.Array
    typed: frozenset[str] = frozenset()


@dataclass
class Malformed:
    """Lines that are not rows of the file (a wrong number of fields): quarantined as they are."""

    rows: list[tuple[int, str]] = field(default_factory=list)


def _clean(values: pa.Array) -> pa.Array:
    trimmed = pc.utf8_trim_whitespace(values)
    return pc.if_else(pc.equal(trimmed, ""), pa.scalar(None, pa.string()), trimmed)


def _decode_utf8(values: pa.Array) -> tuple[pa.Array, pa.Array | None]:
    """Binary to UTF-8 strings; values that are not UTF-8 are decoded with replacement characters and
    flagged (per-value Python only for a batch that has such a value)."""
    try:
        return values.cast(pa.string()), None
    except pa.ArrowInvalid:
        decoded, invalid = [], []
        for value in values.to_pylist():
            try:
                decoded.append(None if value is None else value.decode("utf-8"))
                invalid.append(False)
            except UnicodeDecodeError:
                decoded.append(value.decode("utf-8", errors="replace"))
                invalid.append(True)
        return pa.array(decoded, pa.string()), pa.array(invalid)


@dataclass
class _Batcher:
    """Turns string columns by source column into a SourceBatch for the mapped fields."""

    columns: dict[str, str]  # field -> source column
    typed_columns: frozenset[str] = frozenset()

    def batch(self, lines: pa.Array, by_column: dict[str, pa.Array], invalid: dict[str, pa.Array]) -> SourceBatch:
        length = len(lines)
        originals = {column: _clean(values) for column, values in by_column.items()}
        texts = {name: originals[column] for name, column in self.columns.items()}
        no_text = pa.scalar(None, pa.string())
        reason, reason_field = pa.nulls(length, pa.string()), pa.nulls(length, pa.string())
        for name, column in self.columns.items():
            if column in invalid:
                mask = invalid[column]
                reason = pc.coalesce(reason, pc.if_else(mask, "invalid_encoding", no_text))
                reason_field = pc.coalesce(reason_field, pc.if_else(mask, name, no_text))
        # A line with no value in any mapped column (a blank line, only separators) is not a row.
        has_value = pc.or_kleene(pc.is_valid(reason), _any_valid(list(texts.values()), length))
        keep = pc.fill_null(has_value, False)
        typed = frozenset(name for name, column in self.columns.items() if column in self.typed_columns)
        if pc.all(keep).as_py():
            return SourceBatch(lines, texts, originals, reason, reason_field, typed)
        return SourceBatch(
            lines.filter(keep),
            {k: v.filter(keep) for k, v in texts.items()},
            {k: v.filter(keep) for k, v in originals.items()},
            reason.filter(keep),
            reason_field.filter(keep),
            typed,
        )


def _any_valid(arrays: list[pa.Array], length: int) -> pa.Array:
    result = pa.array(np.zeros(length, dtype=bool))
    for values in arrays:
        result = pc.or_(result, pc.is_valid(values))
    return result


@dataclass(frozen=True)
class FileSource:
    path: Path
    format: str

    @property
    def label(self) -> str:
        return str(self.path)

    def checksum(self) -> str:
        digest = hashlib.sha256()
        with self.path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        return digest.hexdigest()

    def header(self, mapping: EntityMapping) -> list[str] | None:
        """The source's column names; None for a file of 0 bytes."""
        try:
            if self.format == "parquet":
                return list(pq.ParquetFile(self.path).schema_arrow.names)
            with self.path.open("rb") as handle:
                first = handle.readline(1 << 20)
        except (OSError, pa.ArrowException) as error:
            raise SourceError(f"{self.path}: cannot be read: {error}") from None
        if not first:
            return None
        text = first.removeprefix(b"\xef\xbb\xbf").decode(mapping.encoding, errors="replace").rstrip("\r\n")
        return next(csv.reader([text], delimiter=mapping.delimiter), [])

    def batches(self, mapping: EntityMapping, header: list[str], malformed: Malformed) -> Iterator[SourceBatch]:
        if self.format == "parquet":
            yield from self._parquet_batches(mapping)
        else:
            with self.path.open("rb") as handle:
                yield from csv_batches(handle, mapping, header, malformed, str(self.path), physical_lines=True)

    def _parquet_batches(self, mapping: EntityMapping) -> Iterator[SourceBatch]:
        columns = mapping.column_map()
        wanted = list(dict.fromkeys(columns.values()))
        try:
            parquet = pq.ParquetFile(self.path)
            schema = parquet.schema_arrow
            typed = frozenset(
                c for c in wanted if not pa.types.is_string(schema.field(c).type) and not _is_text(schema.field(c).type)
            )
            batcher = _Batcher(columns, typed)
            row = 0
            for record_batch in parquet.iter_batches(batch_size=PARQUET_BATCH_ROWS, columns=wanted):
                length = record_batch.num_rows
                lines = pa.array(np.arange(row + 1, row + length + 1, dtype=np.int64))
                by_column = {c: record_batch.column(c).cast(pa.string()) for c in wanted}
                row += length
                yield batcher.batch(lines, by_column, {})
        except pa.ArrowException as error:
            raise SourceError(f"{self.path}: cannot be read as Parquet: {error}") from None


def _is_text(arrow_type: pa.DataType) -> bool:
    return bool(pa.types.is_large_string(arrow_type) or pa.types.is_string_view(arrow_type))


def _unique_names(header: list[str]) -> list[str]:
    """pyarrow needs distinct column names: a repeated header gets `.2`, `.3` (the mapping means the first)."""
    seen: dict[str, int] = {}
    names = []
    for name in header:
        seen[name] = seen.get(name, 0) + 1
        names.append(name if seen[name] == 1 else f"{name}.{seen[name]}")
    return names


def csv_batches(
    stream: Any,
    mapping: EntityMapping,
    header: list[str],
    malformed: Malformed,
    label: str,
    physical_lines: bool,
) -> Iterator[SourceBatch]:
    """Stream a CSV (a binary file object) in record batches of strings, each row with its line.

    Lines: pyarrow numbers the rows it parses; a line with the wrong number of fields goes to
    `malformed` with its physical line number, so the lines of the rows after it are shifted back in
    (t_j = s_j - 2 - j below: row n's line is n + 2 + the number of malformed lines before it)."""
    columns = mapping.column_map()
    wanted = list(dict.fromkeys(columns.values()))
    utf8 = mapping.encoding == "utf-8"

    def on_invalid(row: Any) -> str:
        malformed.rows.append((int(row.number) if row.number is not None else -1, str(row.text)))
        return "skip"

    bounded = _BoundedReadAhead(stream, BLOCK_SIZE)
    batcher = _Batcher(columns)
    rows = 0
    try:
        # open_csv reads and decodes the first block already: a byte the encoding does not define raises here
        reader = pa_csv.open_csv(
            bounded,
            read_options=pa_csv.ReadOptions(
                encoding="utf8" if utf8 else mapping.encoding,
                block_size=BLOCK_SIZE,
                use_threads=False,
                skip_rows=1,
                column_names=_unique_names(header),
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=mapping.delimiter, invalid_row_handler=on_invalid, ignore_empty_lines=False
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={c: pa.binary() if utf8 else pa.string() for c in wanted},
                include_columns=wanted,
                strings_can_be_null=False,
            ),
        )
        for record_batch in bounded.batches(reader):
            length = record_batch.num_rows
            ordinals = np.arange(rows, rows + length, dtype=np.int64)
            rows += length
            if physical_lines:
                skipped = np.array([line for line, _ in malformed.rows], dtype=np.int64)
                shifted = skipped - 2 - np.arange(len(skipped), dtype=np.int64)
                lines = ordinals + 2 + np.searchsorted(shifted, ordinals, side="right")
            else:
                lines = ordinals + 1
            by_column, invalid = {}, {}
            for column in wanted:
                values = record_batch.column(column)
                if utf8:
                    values, bad = _decode_utf8(values)
                    if bad is not None:
                        invalid[column] = bad
                by_column[column] = values
            yield batcher.batch(pa.array(lines), by_column, invalid)
    except (pa.ArrowException, UnicodeDecodeError) as error:
        raise SourceError(f"{label}: cannot be read as {mapping.encoding} CSV: {error}") from None


class _BoundedReadAhead(io.RawIOBase):
    """A binary stream that pyarrow's streaming CSV reader may read only READ_AHEAD_BLOCKS blocks past the
    record batches taken from it. Unbounded, its I/O thread reads the whole input ahead (a 200 MB file was
    all in memory before the first batch was used), so peak memory grew with the file.

    pyarrow turns each block into one batch (an empty one too), so batch n never needs more than block
    n + 1 and the bound cannot starve it; should it ever, a read held STALL_SECONDS while the loader waits
    for a batch goes ahead."""

    def __init__(self, raw: Any, block_size: int) -> None:
        self._raw = raw
        self._block_size = block_size
        self._bytes_read = 0
        self._batches_taken = 0
        self._waiting = False
        self._changed = threading.Condition()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        with self._changed:
            while self._bytes_read >= (self._batches_taken + 1 + READ_AHEAD_BLOCKS) * self._block_size:
                if not self._changed.wait(STALL_SECONDS) and self._waiting:
                    break
        data: bytes = self._raw.read(size)
        self._bytes_read += len(data)
        return data

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def batches(self, reader: Any) -> Iterator[Any]:
        """The reader's record batches, each one taken allowing one more block to be read."""
        batches = iter(reader)
        while True:
            self._set(waiting=True)
            try:
                batch = next(batches, None)
            finally:
                self._set(waiting=False)
            if batch is None:
                return
            self._set(taken=1)
            yield batch

    def _set(self, waiting: bool | None = None, taken: int = 0) -> None:
        with self._changed:
            if waiting is not None:
                self._waiting = waiting
            self._batches_taken += taken
            self._changed.notify_all()


class _CopyStream(io.RawIOBase):
    """A file object over `COPY ... TO STDOUT` chunks (for pyarrow's streaming CSV reader), hashing them."""

    def __init__(self, chunks: Iterator[Any]) -> None:
        self._chunks = chunks
        self._pending = b""
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._pending = bytes(chunk)
            self.digest.update(self._pending)
        size = min(len(buffer), len(self._pending))
        buffer[:size] = self._pending[:size]
        self._pending = self._pending[size:]
        return size


@dataclass
class DatabaseSource:
    """A table or query on a Postgres source database, streamed with COPY (text columns use the mapping's
    formats; typed columns come out in Postgres' ISO form, read with the default formats)."""

    url: str
    table: str | None
    query: str | None
    checksum_of_stream: str | None = None

    @property
    def label(self) -> str:
        return f"table {self.table}" if self.table else f"query {' '.join((self.query or '').split())[:80]}"

    def _relation(self) -> sql.Composable:
        if self.table:
            return sql.Identifier(*self.table.split("."))
        return sql.SQL("({})").format(sql.SQL(self.query or ""))  # the mapping's own query, on its own database

    def _connect(self) -> Any:
        from loyalty.warehouse import connect

        return connect(self.url)

    def describe(self) -> dict[str, int]:
        """Column name -> type OID of the table or query."""
        try:
            with self._connect() as conn:
                cursor = conn.execute(query("loader/describe_source.sql", identifiers={"relation": self._relation()}))
                return {column.name: column.type_code for column in cursor.description or []}
        except Exception as error:  # psycopg's errors: unreachable, no such table, a broken query
            raise SourceError(f"{self.label}: cannot be read: {str(error).strip()}") from None

    def batches(self, mapping: EntityMapping, types: dict[str, int], malformed: Malformed) -> Iterator[SourceBatch]:
        columns = mapping.column_map()
        wanted = list(dict.fromkeys(columns.values()))
        statement = query(
            "loader/export_source.sql",
            identifiers={
                "columns": sql.SQL(", ").join(sql.Identifier(c) for c in wanted),
                "relation": self._relation(),
            },
        )
        typed = frozenset(c for c in wanted if types.get(c) not in TEXT_TYPES)
        try:
            with self._connect() as conn:
                conn.execute("set transaction read only")
                conn.execute("set timezone = 'UTC'")
                conn.execute("set datestyle = 'ISO, YMD'")
                conn.execute("set client_encoding = 'UTF8'")
                with conn.cursor().copy(statement) as copy:
                    stream = _CopyStream(iter(copy))
                    text_mapping = mapping.model_copy(update={"encoding": "utf-8", "delimiter": ","})
                    for batch in csv_batches(stream, text_mapping, wanted, malformed, self.label, physical_lines=False):
                        batch.typed = frozenset(name for name, column in columns.items() if column in typed)
                        yield batch
                    self.checksum_of_stream = stream.digest.hexdigest()
        except SourceError:
            raise
        except Exception as error:
            if type(error).__module__.startswith("psycopg"):
                raise SourceError(f"{self.label}: cannot be read: {str(error).strip()}") from None
            raise


def resolve_sources(
    mapping_path: Path, text: str, entity: str, mapping: EntityMapping
) -> list[FileSource | DatabaseSource]:
    """The files a path or glob names (sorted), or the database source; MappingError when nothing matches."""
    source = mapping.source
    if source.url is not None:
        url = expand_url(source.url, mapping_path, text, entity)
        return [DatabaseSource(url, source.table, source.query)]
    assert source.path is not None
    pattern = source.path if Path(source.path).is_absolute() else str(mapping_path.parent / source.path)
    matches = sorted(Path(p) for p in glob.glob(pattern) if Path(p).is_file())
    if not matches:
        raise MappingError(
            f"{where(mapping_path, text, 'entities', entity, 'source', 'path')}: no file matches {pattern}"
        )
    return [FileSource(path, mapping.resolved_format) for path in matches]
