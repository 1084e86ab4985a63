"""loyalty.loader.sources: a CSV read in record batches, each row with the physical line it starts on, a record
that spans several lines (a quoted value holding a line break) flagged as malformed, block boundaries or not."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from loyalty.loader import sources
from loyalty.loader.mapping import ENTITY_MAPPINGS, EntityMapping
from loyalty.loader.sources import FileSource, Malformed, csv_batches

HEADER = ["id", "email", "signup_at", "note"]


def mapping() -> EntityMapping:
    columns = {"customer_id": "id", "email": "email", "signup_at": "signup_at"}  # `note` is not mapped
    return ENTITY_MAPPINGS["customers"].model_validate({"source": {"path": "c.csv"}, "columns": columns})


def read(data: bytes, physical_lines: bool = True) -> tuple[list[tuple[int, str | None, str | None]], list[int]]:
    """(line, id, read error) of every row the loader is given, and the lines of the malformed rows."""
    malformed = Malformed()
    found = []
    for batch in csv_batches(io.BytesIO(data), mapping(), HEADER, malformed, "c.csv", physical_lines):
        found += zip(
            batch.lines.to_pylist(), batch.texts["customer_id"].to_pylist(), batch.read_reason.to_pylist(), strict=True
        )
    return found, [line for line, _ in malformed.rows]


class TestQuotedLineBreaks:
    def test_a_record_spanning_lines_is_malformed_at_its_first_line_and_later_lines_stay_true(self) -> None:
        """A line break inside quotes, in a mapped column or not, with \\n, \\r\\n or a lone \\r: the record is a
        malformed row at the line it starts on, and every later row (a malformed one too) keeps its physical line."""
        data = (
            b"id,email,signup_at,note\n"  # 1
            b"1,a@x.com,2026-01-05,\n"  # 2
            b'2,"b@x.com\n'  # 3
            b'",2026-01-05,\n'  # 4
            b'3,c@x.com,2026-01-05,"call after 6pm\r\n'  # 5
            b"ask for Ana\r"  # 6
            b'and Bia"\n'  # 7
            b"4,d@x.com,2026-01-05,\n"  # 8
            b"5,e@x.com\n"  # 9: one field short
            b'6,f@x.com,2026-01-05,"two\n'  # 10
            b'lines"\n'  # 11
            b"7,g@x.com,2026-01-05,\n"  # 12
        )
        rows, malformed = read(data)
        assert rows == [
            (2, "1", None),
            (3, "2", "malformed_row"),
            (5, "3", "malformed_row"),
            (8, "4", None),
            (10, "6", "malformed_row"),
            (12, "7", None),
        ]
        assert malformed == [9]

    def test_a_malformed_row_that_spans_lines_counts_its_lines(self) -> None:
        """A row with a field too many whose quoted value holds a line break: the row after it keeps its line."""
        data = b'id,email,signup_at,note\n1,"a\nb",2026-01-05,,extra\n2,b@x.com,2026-01-05,\n'
        rows, malformed = read(data)
        assert (rows, malformed) == ([(4, "2", None)], [2])

    def test_block_boundaries_inside_a_quoted_value(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Small blocks, so that records with a quoted line break straddle block boundaries: every row is read,
        each at its line, the malformed ones too (pyarrow's line-based chunking used to fail the file: "CSV
        parser got out of sync with chunker")."""
        monkeypatch.setattr(sources, "BLOCK_SIZE", 128)
        records = ["id,email,signup_at,note"]
        expected, expected_malformed = [], []
        line = 2
        for n in range(1, 200):
            if n % 13 == 0:
                records.append(f'{n},"c{n}\n@x.com"')  # a field short, over two lines
                expected_malformed.append(line)
            elif n % 7 == 0:
                records.append(f'{n},c{n}@x.com,2026-01-05,"first line\nsecond line\nthird line"')
                expected.append((line, str(n), "malformed_row"))
            elif n % 11 == 0:
                records.append(f'{n},"c{n}@x.com",2026-01-05,"quoted, no line break"')
                expected.append((line, str(n), None))
            else:
                records.append(f"{n},c{n}@x.com,2026-01-05,")
                expected.append((line, str(n), None))
            line += records[-1].count("\n") + 1
        data = "\n".join(records).encode() + b"\n"
        rows, malformed = read(data)
        assert len(data) > 20 * sources.BLOCK_SIZE
        assert (rows, malformed) == (expected, expected_malformed)

    def test_a_quote_never_closed_takes_the_rest_of_a_small_file(self) -> None:
        """An opening quote without its closing one runs to the end of the file: one malformed record, at the line
        the quote opens (as Postgres' COPY or Python's csv would read it; the lines it swallowed are in it)."""
        data = b'id,email,signup_at,note\n1,a@x.com,2026-01-05,"oops\n2,b@x.com,2026-01-05,\n3,c@x.com,2026-01-05,\n'
        rows, malformed = read(data)
        assert (rows, malformed) == ([(2, "1", "malformed_row")], [])

    def test_a_quote_never_closed_past_a_block_is_a_source_error_naming_the_line(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """A quoted value longer than a block cannot be read in bounded memory: the file is refused with its name
        and the last line read before it, not a pyarrow message about blocks."""
        monkeypatch.setattr(sources, "BLOCK_SIZE", 128)
        good = "".join(f"{n},c{n}@x.com,2026-01-05,\n" for n in range(1, 20))
        tail = "".join(f"{n},c{n}@x.com,2026-01-05,\n" for n in range(21, 60))
        data = f'id,email,signup_at,note\n{good}20,c20@x.com,2026-01-05,"never closed\n{tail}'.encode()
        with pytest.raises(sources.SourceError, match=r"^c\.csv: after line \d+: a quoted value runs on past"):
            read(data)

    def test_a_database_stream_keeps_line_breaks_as_values(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Rows streamed from Postgres (numbered, not lines): a value with a line break is a value, across blocks."""
        monkeypatch.setattr(sources, "BLOCK_SIZE", 64)
        data = b"".join(b'%d,"a\nb@x.com",2026-01-05,\n' % n for n in range(1, 30))
        rows, malformed = read(b"id,email,signup_at,note\n" + data, physical_lines=False)
        assert (rows, malformed) == ([(n, str(n), None) for n in range(1, 30)], [])

    def test_a_quoted_header_is_read(self, tmp_path: Path) -> None:
        """Quoted column names, a delimiter in one: still one line of names."""
        (tmp_path / "c.csv").write_bytes(b'id,"e-mail",signup_at,"note, free text"\n1,a@x.com,2026-01-05,\n')
        assert FileSource(tmp_path / "c.csv", "csv").header(mapping()) == [
            "id",
            "e-mail",
            "signup_at",
            "note, free text",
        ]

    def test_a_header_whose_quote_is_not_closed_on_its_line_is_a_source_error(self, tmp_path: Path) -> None:
        """The header is one line (its names feed pyarrow): a column name over two lines is refused before loading."""
        (tmp_path / "c.csv").write_bytes(b'id,email,signup_at,"note\nfree text"\n1,a@x.com,2026-01-05,\n')
        with pytest.raises(sources.SourceError, match=r"c\.csv: line 1: the header is not one line of column names"):
            FileSource(tmp_path / "c.csv", "csv").header(mapping())
