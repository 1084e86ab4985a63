"""Where rows come from: CSV and Parquet files (a file or a glob) and Postgres tables or queries.

Every source is read in record batches of strings (never a whole file in memory) with each row's
line (CSV: the physical line it starts on, header = 1; Parquet and Postgres: the row number). Rows that
cannot be read as rows (a wrong number of fields, bytes that are not UTF-8 in a UTF-8 file) are not
dropped: they come back with a read error, so the loader quarantines them with their line. A latin-1 or
cp1252 file is decoded whole by pyarrow: a byte cp1252 does not define is a SourceError for the file.

A line break inside a quoted CSV value: pyarrow reads the record whole (its chunking follows quotes,
so a record may straddle a block boundary), but in a file the record is a malformed row, quarantined at
the line it starts on; the lines it spans are counted, so every later row keeps its physical line. Why
not load the value: most such records in an export are an unbalanced quote that swallowed the lines
after it (which would load as one garbled value, the swallowed rows silently gone), and no raw column
holds multi-line text. A quote never closed takes the rest of the file into its record: up to a block
(8 MiB) that is one malformed row; longer, the file cannot be read in bounded memory and is a
SourceError naming the line it follows. Rows streamed from Postgres have no lines: there a line break
is part of the value and loads.
"""

from __future__ import annotations

import csv
import glob
import hashlib
import io
import json
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
    records: pa.Array | None = None  # JSON of every column, for rows quarantined as a whole record (else null)


@dataclass
class Malformed:
    """Records that are not rows of the file (a wrong number of fields), with the line each starts on and its
    text: quarantined as they are. Complete once the source's batches are exhausted."""

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

    def batch(
        self,
        lines: pa.Array,
        by_column: dict[str, pa.Array],
        invalid: dict[str, pa.Array],
        spanning: pa.Array | None = None,
        records: pa.Array | None = None,
    ) -> SourceBatch:
        """`spanning`: rows that are malformed as a whole (a record over several lines), `records` what they hold."""
        length = len(lines)
        originals = {column: _clean(values) for column, values in by_column.items()}
        texts = {name: originals[column] for name, column in self.columns.items()}
        no_text = pa.scalar(None, pa.string())
        reason, reason_field = pa.nulls(length, pa.string()), pa.nulls(length, pa.string())
        if spanning is not None:
            reason = pc.if_else(spanning, "malformed_row", no_text)
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
            return SourceBatch(lines, texts, originals, reason, reason_field, typed, records)
        return SourceBatch(
            lines.filter(keep),
            {k: v.filter(keep) for k, v in texts.items()},
            {k: v.filter(keep) for k, v in originals.items()},
            reason.filter(keep),
            reason_field.filter(keep),
            typed,
            None if records is None else records.filter(keep),
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
        try:  # strict: a quote opened and not closed on the line is an error, not a name running to its end
            return next(csv.reader([text], delimiter=mapping.delimiter, strict=True), [])
        except csv.Error as error:
            raise SourceError(f"{self.path}: line 1: the header is not one line of column names: {error}") from None

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

    `physical_lines`: a file, whose rows are numbered by the line they start on and where a record spanning
    lines is a malformed row (see the module docstring); else rows streamed from a database, numbered 1, 2, ...
    and whose values may hold line breaks. Records with the wrong number of fields go to `malformed`."""
    columns = mapping.column_map()
    wanted = list(dict.fromkeys(columns.values()))
    names = _unique_names(header)
    utf8 = mapping.encoding == "utf-8"
    lines = _RecordLines()

    def on_invalid(row: Any) -> str:
        lines.malformed(int(row.number) if row.number is not None else -1, str(row.text))
        return "skip"

    bounded = _BoundedReadAhead(stream, BLOCK_SIZE)
    batcher = _Batcher(columns)
    try:
        # open_csv reads and decodes the first block already: a byte the encoding does not define raises here
        reader = pa_csv.open_csv(
            bounded,
            read_options=pa_csv.ReadOptions(
                encoding="utf8" if utf8 else mapping.encoding,
                block_size=BLOCK_SIZE,
                use_threads=False,
                skip_rows=1,
                column_names=names,
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=mapping.delimiter,
                invalid_row_handler=on_invalid,
                ignore_empty_lines=False,
                newlines_in_values=True,  # blocks end between records, never inside a quoted value
            ),
            convert_options=pa_csv.ConvertOptions(
                # Every column, mapped or not, for the line breaks in its values; unmapped ones as bytes (cheapest).
                column_types={c: pa.binary() if utf8 or c not in wanted else pa.string() for c in names},
                include_columns=names,
                strings_can_be_null=False,
            ),
        )
        for record_batch in bounded.batches(reader):
            spanning, records = None, None
            if physical_lines:
                breaks = _line_breaks(record_batch)
                numbers = lines.rows(breaks)
                if breaks.any():
                    spanning = pa.array(breaks > 0)
                    records = _records(record_batch, spanning)
            else:
                numbers = lines.numbered(record_batch.num_rows)
            by_column, invalid = {}, {}
            for column in wanted:
                values = record_batch.column(column)
                if utf8:
                    values, bad = _decode_utf8(values)
                    if bad is not None:
                        invalid[column] = bad
                by_column[column] = values
            yield batcher.batch(pa.array(numbers), by_column, invalid, spanning, records)
    except (pa.ArrowException, UnicodeDecodeError) as error:
        if "straddl" in str(error):  # pyarrow: a record (an unclosed quote's) longer than a block
            raise SourceError(
                f"{label}: after line {lines.last_line}: a quoted value runs on past {_size(BLOCK_SIZE)} without "
                "its closing quote (a record may hold line breaks, but not be that long): a quote never closed?"
            ) from None
        raise SourceError(f"{label}: cannot be read as {mapping.encoding} CSV: {error}") from None
    finally:
        bounded.finish()  # pyarrow's reader thread may be held in read(): let it go
    malformed.rows.extend(lines.malformed_rows(physical_lines))


def _size(size: int) -> str:
    return f"{size >> 20} MiB" if size >= 1 << 20 else f"{size} bytes"


def _line_breaks(record_batch: pa.RecordBatch) -> np.ndarray:
    """Per record, the line breaks (\r\n, \r or \n) inside its values, in any column. A byte scan of each
    column's data first: only a column that holds a line break is counted row by row (in pyarrow)."""
    total = np.zeros(record_batch.num_rows, dtype=np.int64)
    for values in record_batch.columns:
        data = values.buffers()[2]
        if data is None:
            continue
        raw = data.to_pybytes()
        if b"\n" not in raw and b"\r" not in raw:
            continue
        counts = [pc.count_substring(values, pattern) for pattern in ("\n", "\r", "\r\n")]
        per_row = pc.subtract(pc.add(counts[0], counts[1]), counts[2])
        total += pc.fill_null(per_row, 0).to_numpy(zero_copy_only=False)
    return total


def _records(record_batch: pa.RecordBatch, mask: pa.Array) -> pa.Array:
    """Every column of the rows in `mask` as JSON text (null elsewhere): what a record that spans lines held,
    the unmapped columns too (the line break may be in one). Per-row Python, for those rows only."""
    picked = record_batch.filter(mask)
    texts = {
        name: _decode_utf8(values)[0] if pa.types.is_binary(values.type) else values
        for name, values in zip(picked.schema.names, picked.columns, strict=True)
    }
    documents = [json.dumps(row, ensure_ascii=False) for row in pa.table(texts).to_pylist()]
    return pc.replace_with_mask(pa.nulls(len(mask), pa.string()), mask, pa.array(documents, pa.string()))


class _RecordLines:
    """The line each record of a CSV starts on (numpy over a batch; no per-row Python).

    pyarrow numbers records (the header is 1) and gives the good ones in batches, in order; the malformed ones
    (a wrong number of fields) come to `malformed` while it parses, before the batch they would be in (and maybe
    later ones: it reads ahead). A record spans 1 line + the line breaks in its quoted values, so it starts on
    its number + the breaks of every record before it. Good record n (0-based) is record n + 2 + the malformed
    records before it; malformed record j (0-based, record m_j) has m_j - 2 - j good records before it."""

    def __init__(self) -> None:
        self._malformed: list[tuple[int, int, str]] = []  # (record number, line breaks, text): one append each
        self._good = 0  # good records so far
        self._good_breaks = 0  # the line breaks in them
        self._spanning: list[tuple[np.ndarray, np.ndarray]] = []  # good records with breaks: (ordinals, breaks)
        self.last_line = 1  # the last line of the rows given so far

    def malformed(self, number: int, text: str) -> None:
        breaks = text.count("\n") + text.count("\r") - text.count("\r\n")
        self._malformed.append((number, breaks, text))

    def rows(self, breaks: np.ndarray) -> np.ndarray:
        """The start lines of the next batch's good records, given the line breaks in each."""
        known = list(self._malformed)
        numbers = np.array([number for number, _, _ in known], dtype=np.int64)
        malformed_breaks = np.concatenate(([0], np.cumsum([count for _, count, _ in known], dtype=np.int64)))
        good_before = numbers - 2 - np.arange(len(known), dtype=np.int64)
        ordinals = np.arange(self._good, self._good + len(breaks), dtype=np.int64)
        malformed_before = np.searchsorted(good_before, ordinals, side="right")
        breaks_before = self._good_breaks + np.cumsum(breaks) - breaks + malformed_breaks[malformed_before]
        starts: np.ndarray = ordinals + 2 + malformed_before + breaks_before
        spans = breaks > 0
        if spans.any():
            self._spanning.append((ordinals[spans], breaks[spans]))
        self._good += len(breaks)
        self._good_breaks += int(breaks.sum())
        if len(starts):
            self.last_line = int(starts[-1] + breaks[-1])
        return starts

    def numbered(self, length: int) -> np.ndarray:
        """Rows streamed from a database: numbered from 1, no lines."""
        numbers = np.arange(self._good + 1, self._good + length + 1, dtype=np.int64)
        self._good += length
        return numbers

    def malformed_rows(self, physical_lines: bool) -> list[tuple[int, str]]:
        """(line, text) of every malformed record: once every batch is read."""
        if not physical_lines:  # a database's rows: record 1 is the header
            return [(number - 1, text) for number, _, text in self._malformed]
        none = np.zeros(0, dtype=np.int64)
        ordinals = np.concatenate([ordinals for ordinals, _ in self._spanning] + [none])
        spanning_breaks = np.concatenate([breaks for _, breaks in self._spanning] + [none])
        good_breaks = np.concatenate(([0], np.cumsum(spanning_breaks)))  # [k]: in the first k records with breaks
        found = []
        breaks_before = 0  # in the malformed records before
        for j, (number, breaks, text) in enumerate(self._malformed):
            good_before = np.searchsorted(ordinals, number - 2 - j, side="left")
            found.append((number + breaks_before + int(good_breaks[good_before]), text))
            breaks_before += breaks
        return found


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
        self._finished = False
        self._changed = threading.Condition()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        with self._changed:
            while self._bytes_read >= (self._batches_taken + 1 + READ_AHEAD_BLOCKS) * self._block_size:
                if self._finished:
                    return b""
                if not self._changed.wait(STALL_SECONDS) and self._waiting:
                    break
            if self._finished:
                return b""
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

    def finish(self) -> None:
        """No more batches will be taken (read to the end, or given up on an error): a read held by the bound,
        or any later one, returns end of file at once instead of waiting for a batch that never comes."""
        with self._changed:
            self._finished = True
            self._changed.notify_all()

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
