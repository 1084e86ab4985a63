"""`loyalty load`: every bad-input case loads the good rows and quarantines the rest with file, line,
column and reason; rows read = loaded + quarantined; the same file twice changes nothing; a corrected
re-export updates only the changed rows; a file fails whole or not at all; exit codes without tracebacks."""

from __future__ import annotations

import json
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from loyalty.cli import app
from loyalty.loader import LoadReport, MappingError, SourceError, SourceSummary, load
from loyalty.loader import run as loader_run
from loyalty.loader import sources as loader_sources

pytestmark = pytest.mark.integration
runner = CliRunner()

CUSTOMER_COLUMNS = {"customer_id": "id", "email": "email", "signup_at": "signup_at", "email_consent": "consent"}
CUSTOMERS_CSV = (
    "id,email,signup_at,consent\n"
    "1,ana@example.com,2026-01-05T10:00:00Z,yes\n"
    "2,bob@example.com,2026-01-06 09:30,no\n"
    "3,cid@example.com,2026-01-07,\n"
)


APP_EVENT_COLUMNS = {
    "event_id": "message_id",
    "customer_id": "user_id",
    "event_type": "event",
    "occurred_at": "timestamp",
    "product_id": "product_id",
    "quantity": "quantity",
    "unit_price": "price",
    "score": "score",
    "order_id": "order_id",
}
EVENT_NAMES = {  # a tracking plan's names for ours (the mapping's `values`)
    "Product Viewed": "product_viewed",
    "Product Added": "added_to_cart",
    "Product Removed": "removed_from_cart",
    "Push Notification Tapped": "push_opened",
    "NPS Survey Submitted": "nps_answered",
}


@pytest.fixture
def url(clean_warehouse: str) -> str:
    return clean_warehouse


def write_mapping(folder: Path, entities: dict, **top: object) -> Path:
    path = folder / "mapping.yml"
    path.write_text(yaml.safe_dump({**top, "entities": entities}, sort_keys=False, allow_unicode=True))
    return path


def customers_mapping(path: str = "customers*.csv", **options: object) -> dict:
    return {"customers": {"source": {"path": path}, "columns": dict(CUSTOMER_COLUMNS), **options}}


def only(report: LoadReport) -> SourceSummary:
    (summary,) = report.sources
    assert summary.rows_read == summary.rows_loaded + summary.rows_quarantined
    return summary


def quarantine(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "select rule, source_file, source_line, source_column from raw.quarantine order by source_line"
        ).fetchall()


def rows(url: str, statement: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(statement).fetchall()


class TestGoodFiles:
    def test_utf8_csv_loads_with_timezone_and_consents(self, url: str, tmp_path: Path) -> None:
        """ISO timestamps with Z, without offset (the mapping's timezone), a bare date; consent yes/no/empty."""
        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        mapping = write_mapping(tmp_path, customers_mapping(), timezone="America/Sao_Paulo")
        summary = only(load(mapping, url))
        assert (summary.rows_read, summary.rows_loaded, summary.rows_inserted, summary.rows_quarantined) == (3, 3, 3, 0)
        assert rows(url, "select customer_id, signup_at::text, email_consent from raw.customers order by 1") == [
            (1, "2026-01-05 10:00:00+00", True),
            (2, "2026-01-06 12:30:00+00", False),  # 09:30 in São Paulo (UTC-3)
            (3, "2026-01-07 03:00:00+00", False),  # empty consent is no consent
        ]

    def test_optional_push_token(self, url: str, tmp_path: Path) -> None:
        """push_token, the FCM token of the customer's app, is an optional text field like phone: trimmed, empty or
        blank is null, a long value loads as it is (dbt's contract nulls one over push_token_max_length, the value
        only, as it does a malformed phone); a re-export that drops a token clears it."""
        long_token = "t" * 5000
        (tmp_path / "customers.csv").write_text(
            "id,signup_at,push,token\n"
            "1,2026-01-05,yes,fcm-1-abc\n"
            "2,2026-01-05,yes,\n"
            '3,2026-01-05,no,"   "\n'
            "4,2026-01-05,yes,  fcm-4-def  \n"
            f"5,2026-01-05,yes,{long_token}\n"
        )
        columns = {"customer_id": "id", "signup_at": "signup_at", "push_consent": "push", "push_token": "token"}
        mapping = write_mapping(tmp_path, {"customers": {"source": {"path": "customers*.csv"}, "columns": columns}})
        summary = only(load(mapping, url))
        assert (summary.rows_loaded, summary.rows_quarantined) == (5, 0)
        assert rows(
            url, "select customer_id, push_consent, push_token from raw.customers where customer_id < 5 order by 1"
        ) == [
            (1, True, "fcm-1-abc"),
            (2, True, None),
            (3, False, None),
            (4, True, "fcm-4-def"),
        ]
        assert rows(url, "select push_token from raw.customers where customer_id = 5") == [(long_token,)]
        (tmp_path / "customers.csv").write_text("id,signup_at,push,token\n1,2026-01-05,yes,\n")
        assert only(load(mapping, url)).rows_updated == 1
        assert rows(url, "select push_token from raw.customers where customer_id = 1") == [(None,)]

    def test_latin1_semicolons_and_decimal_commas(self, url: str, tmp_path: Path) -> None:
        """A Brazilian export: Latin-1, `;`, `,` decimals with `.` thousands, dd/mm/yyyy, S/N consents."""
        (tmp_path / "clientes.csv").write_bytes(
            (
                "Código;Nome;Data Cadastro;Aceita Email\n1;João;05/01/2026 10:00;S\n2;Conceição;06/01/2026 11:00;N\n"
            ).encode("latin-1")
        )
        (tmp_path / "produtos.csv").write_bytes(
            "Cod;Produto;Categoria;Preço\n10;Café;Bebidas;1.234,50\n11;Pão;Padaria;7,9\n".encode("latin-1")
        )
        mapping = write_mapping(
            tmp_path,
            {
                "customers": {
                    "source": {"path": "clientes.csv"},
                    "encoding": "latin-1",
                    "delimiter": ";",
                    "timestamp_format": "%d/%m/%Y %H:%M",
                    "true_values": ["S"],
                    "false_values": ["N"],
                    "columns": {
                        "customer_id": "Código",
                        "first_name": "Nome",
                        "signup_at": "Data Cadastro",
                        "email_consent": "Aceita Email",
                    },
                },
                "products": {
                    "source": {"path": "produtos.csv"},
                    "encoding": "latin-1",
                    "delimiter": ";",
                    "decimal": ",",
                    "columns": {
                        "product_id": "Cod",
                        "product_name": "Produto",
                        "category": "Categoria",
                        "unit_price": "Preço",
                    },
                },
            },
            timezone="America/Sao_Paulo",
        )
        report = load(mapping, url)
        assert [(s.entity, s.rows_loaded, s.rows_quarantined) for s in report.sources] == [
            ("customers", 2, 0),
            ("products", 2, 0),
        ]
        assert rows(url, "select first_name, signup_at::text, email_consent from raw.customers order by 1") == [
            ("Conceição", "2026-01-06 14:00:00+00", False),
            ("João", "2026-01-05 13:00:00+00", True),
        ]
        assert rows(url, "select product_name, unit_price::text from raw.products order by 1") == [
            ("Café", "1234.50"),
            ("Pão", "7.90"),
        ]

    def test_parquet(self, url: str, tmp_path: Path) -> None:
        """Typed Parquet columns (int, timestamp with a zone, bool) and text ones; row numbers as lines."""
        import datetime as dt

        table = pa.table(
            {
                "id": pa.array([1, 2, None], pa.int64()),
                "email": ["a@example.com", "b@example.com", "c@example.com"],
                "signup_at": pa.array([dt.datetime(2026, 1, 5, 10, tzinfo=dt.UTC)] * 3, pa.timestamp("us", tz="UTC")),
                "consent": [True, False, True],
            }
        )
        pq.write_table(table, tmp_path / "customers.parquet")
        summary = only(load(write_mapping(tmp_path, customers_mapping("customers.parquet")), url))
        assert (summary.rows_loaded, summary.quarantined_by_reason) == (2, {"missing_required_field": 1})
        assert rows(url, "select customer_id, signup_at::text, email_consent from raw.customers order by 1") == [
            (1, "2026-01-05 10:00:00+00", True),
            (2, "2026-01-05 10:00:00+00", False),
        ]
        assert quarantine(url) == [("missing_required_field", str(tmp_path / "customers.parquet"), 3, "id")]

    def test_app_events_from_parquet(self, url: str, tmp_path: Path) -> None:
        """A CDP's Parquet export of app events: typed columns (a zoned timestamp, integers, a float price), the
        event names translated by `values`, and each check by row number with its source column: an NPS score of
        11, a quantity of 0, an unknown customer, an event name the mapping does not list."""
        import datetime as dt

        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        at = dt.datetime(2026, 3, 2, 14, 5, 11, 482000, tzinfo=dt.UTC)
        events = [  # message_id, user_id, event, product_id, quantity, price, score, order_id
            ("e1", 1, "Product Viewed", 10, None, 129.9, None, None),
            ("e2", 1, "Product Added", 10, 2, 129.9, None, None),
            ("e3", 2, "NPS Survey Submitted", None, None, None, 11, "#1001"),
            ("e4", 2, "Product Removed", 10, 0, 129.9, None, None),
            ("e5", 99, "Push Notification Tapped", None, None, None, None, None),
            ("e6", 3, "Product Added to Wishlist", 10, None, 129.9, None, None),
            ("e7", 3, "NPS Survey Submitted", None, None, None, 0, "#1002"),
        ]
        schema = pa.schema(
            {
                "message_id": pa.string(),
                "user_id": pa.int64(),
                "event": pa.string(),
                "product_id": pa.int64(),
                "quantity": pa.int32(),
                "price": pa.float64(),
                "score": pa.int64(),
                "order_id": pa.string(),
            }
        )
        table = pa.Table.from_pylist([dict(zip(schema.names, row, strict=True)) for row in events], schema=schema)
        sent_at = pa.array([at] * len(events), pa.timestamp("ms", tz="America/Sao_Paulo"))  # a zone, not UTC
        pq.write_table(table.append_column("timestamp", sent_at), tmp_path / "events.parquet")
        entities = {
            **customers_mapping("customers.csv"),
            "app_events": {
                "source": {"path": "events.parquet"},
                "columns": APP_EVENT_COLUMNS,
                "values": {"event_type": EVENT_NAMES},
            },
        }
        report = load(write_mapping(tmp_path, entities), url)
        summary = report.sources[-1]
        assert (summary.entity, summary.rows_read, summary.rows_loaded) == ("app_events", 7, 3)
        assert summary.quarantined_by_reason == {
            "non_positive_quantity": 1,
            "score_out_of_range": 1,
            "unknown_customer": 1,
            "unknown_event_type": 1,
        }
        assert quarantine(url) == [
            ("score_out_of_range", str(tmp_path / "events.parquet"), 3, "score"),
            ("non_positive_quantity", str(tmp_path / "events.parquet"), 4, "quantity"),
            ("unknown_customer", str(tmp_path / "events.parquet"), 5, "user_id"),
            ("unknown_event_type", str(tmp_path / "events.parquet"), 6, "event"),
        ]
        assert rows(
            url,
            "select event_id, event_type, occurred_at::text, quantity, unit_price::text, score, order_id "
            "from raw.app_events order by 1",
        ) == [
            ("e1", "product_viewed", "2026-03-02 14:05:11.482+00", None, "129.90", None, None),
            ("e2", "added_to_cart", "2026-03-02 14:05:11.482+00", 2, "129.90", None, None),
            ("e7", "nps_answered", "2026-03-02 14:05:11.482+00", None, None, 0, "#1002"),
        ]

    def test_app_events_from_a_postgres_query(self, url: str, tmp_path: Path) -> None:
        """App events from a database (typed numeric, integer and timestamptz columns), names translated; a
        negative score and an unlisted name are quarantined by row number."""
        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        with psycopg.connect(url) as conn:
            conn.execute("drop schema if exists tracking cascade")
            conn.execute("create schema tracking")
            conn.execute(
                "create table tracking.events (message_id text, user_id bigint, event text, sent_at timestamptz, "
                "product_id bigint, quantity integer, price numeric, score integer, order_id text)"
            )
            conn.execute(
                "insert into tracking.events values "
                "('e1', 1, 'Product Added', '2026-03-02 14:05:11.482-03', 10, 1, 129.9, null, null), "
                "('e2', 2, 'NPS Survey Submitted', '2026-03-03 09:00-03', null, null, null, -1, '#1001'), "
                "('e3', 3, 'Application Opened', '2026-03-03 09:00-03', null, null, null, null, null)"
            )
        columns = {**APP_EVENT_COLUMNS, "occurred_at": "sent_at"}
        entities = {
            **customers_mapping("customers.csv"),
            "app_events": {
                "source": {"url": url, "query": "select * from tracking.events order by message_id"},
                "columns": columns,
                "values": {"event_type": EVENT_NAMES},
            },
        }
        summary = load(write_mapping(tmp_path, entities), url).sources[-1]
        assert (summary.rows_read, summary.rows_loaded, summary.quarantined_by_reason) == (
            3,
            1,
            {"score_out_of_range": 1, "unknown_event_type": 1},
        )
        assert [(rule, line, column) for rule, _, line, column in quarantine(url)] == [
            ("score_out_of_range", 2, "score"),
            ("unknown_event_type", 3, "event"),
        ]
        assert rows(url, "select event_type, occurred_at::text, unit_price::text from raw.app_events") == [
            ("added_to_cart", "2026-03-02 17:05:11.482+00", "129.90")
        ]

    def test_postgres_source_values_keep_their_line_breaks(
        self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Rows streamed from a database have no lines: a value with a line break is a value (unlike a CSV file's
        record over several lines), across the reader's blocks too (small here)."""
        monkeypatch.setattr(loader_sources, "BLOCK_SIZE", 64)
        with psycopg.connect(url) as conn:
            conn.execute("drop schema if exists shop cascade")
            conn.execute("create schema shop")
            conn.execute(
                "create table shop.clients as select code, 'Ana' || chr(10) || 'Maria' as name, "
                "'2026-01-05 10:00+00'::timestamptz as created from generate_series(1, 20) as code"
            )
        columns = {"customer_id": "code", "first_name": "name", "signup_at": "created"}
        mapping = write_mapping(
            tmp_path, {"customers": {"source": {"url": url, "table": "shop.clients"}, "columns": columns}}
        )
        summary = only(load(mapping, url))
        assert (summary.rows_read, summary.rows_loaded) == (20, 20)
        assert rows(url, "select distinct first_name from raw.customers") == [("Ana\nMaria",)]

    def test_postgres_source_table_and_query(self, url: str, tmp_path: Path) -> None:
        """A table on a source database (here a schema of the same server) and a query, streamed with COPY."""
        with psycopg.connect(url) as conn:
            conn.execute("drop schema if exists shop cascade")
            conn.execute("create schema shop")
            conn.execute(
                "create table shop.clients (code int, mail text, created timestamptz, opt_in boolean, note text)"
            )
            conn.execute(
                "insert into shop.clients values (1, 'a@example.com', '2026-01-05 10:00+00', true, null), "
                "(2, 'b@example.com', '2026-01-06 10:00+02', false, null), (null, 'x@example.com', now(), true, null)"
            )
        columns = {"customer_id": "code", "email": "mail", "signup_at": "created", "email_consent": "opt_in"}
        mapping = write_mapping(
            tmp_path,
            {"customers": {"source": {"url": "${LOADER_TEST_SOURCE}", "table": "shop.clients"}, "columns": columns}},
        )
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("LOADER_TEST_SOURCE", url)
            summary = only(load(mapping, url))
            again = only(load(mapping, url))
        assert (summary.rows_read, summary.rows_loaded, summary.quarantined_by_reason) == (
            3,
            2,
            {"missing_required_field": 1},
        )
        assert summary.source == "table shop.clients"
        assert again.already_loaded and again.rows_read == 0  # same content: rolled back, quarantine not doubled
        assert len(quarantine(url)) == 1
        assert rows(url, "select customer_id, signup_at::text, email_consent from raw.customers order by 1") == [
            (1, "2026-01-05 10:00:00+00", True),
            (2, "2026-01-06 08:00:00+00", False),
        ]
        query_mapping = write_mapping(
            tmp_path,
            {
                "customers": {
                    "source": {
                        "url": url,
                        "query": "select code + 100 as code, mail, created, opt_in from shop.clients",
                    },
                    "columns": columns,
                }
            },
        )
        assert only(load(query_mapping, url)).rows_inserted == 2


class TestBadInput:
    def test_wrong_encoding_quarantines_only_the_undecodable_rows(self, url: str, tmp_path: Path) -> None:
        """A Latin-1 file declared UTF-8: ASCII rows load, the row with `ã` is quarantined naming its column."""
        (tmp_path / "customers.csv").write_bytes(
            "id,email,signup_at,consent\n1,ana@x.com,2026-01-05,yes\n2,jo\xe3o@x.com,2026-01-05,yes\n".encode("latin-1")
        )
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_loaded, summary.quarantined_by_reason) == (1, {"invalid_encoding": 1})
        assert quarantine(url) == [("invalid_encoding", str(tmp_path / "customers.csv"), 3, "email")]

    def test_mixed_date_formats_and_impossible_dates(self, url: str, tmp_path: Path) -> None:
        """Rows not in the mapping's format (or naming 31 February) are quarantined, not the file."""
        (tmp_path / "customers.csv").write_text(
            "id,email,signup_at,consent\n"
            "1,a@x.com,05/01/2026 10:00,yes\n"
            "2,b@x.com,2026-01-05 10:00,yes\n"
            "3,c@x.com,31/02/2026 10:00,yes\n"
            "4,d@x.com,5/1/2026 9:05,yes\n"
        )
        mapping = write_mapping(tmp_path, customers_mapping(timestamp_format="%d/%m/%Y %H:%M"))
        summary = only(load(mapping, url))
        assert (summary.rows_loaded, summary.quarantined_by_reason) == (2, {"unparseable_timestamp": 2})
        assert [(rule, line, column) for rule, _, line, column in quarantine(url)] == [
            ("unparseable_timestamp", 3, "signup_at"),
            ("unparseable_timestamp", 4, "signup_at"),
        ]

    def test_a_repeated_key_keeps_its_first_row(self, url: str, tmp_path: Path) -> None:
        """A key given twice in a file: the first line loads, the later one is quarantined (a row that
        loaded never vanishes because of a later line)."""
        (tmp_path / "customers.csv").write_text(
            "id,email,signup_at,consent\n1,old@x.com,2026-01-05,yes\n2,b@x.com,2026-01-05,no\n1,new@x.com,2026-01-05,no\n"
        )
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_loaded, summary.quarantined_by_reason) == (2, {"duplicate_key": 1})
        assert rows(url, "select email from raw.customers where customer_id = 1") == [("old@x.com",)]
        assert [(rule, line, column) for rule, _, line, column in quarantine(url)] == [("duplicate_key", 4, "id")]

    @pytest.mark.parametrize(
        ("before", "first_email", "inserted", "updated", "unchanged"),
        [
            pytest.param(None, "a1@x.com", 3, 0, 0, id="new key: the first row went straight in"),
            pytest.param("a1@x.com", "a1@x.com", 2, 0, 1, id="the first row unchanged from an earlier load"),
            pytest.param("old@x.com", "a1@x.com", 2, 1, 0, id="the first row updated an earlier load's"),
        ],
    )
    def test_a_key_repeated_in_a_later_batch_is_quarantined(
        self,
        url: str,
        tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch,
        before: str | None,
        first_email: str,
        inserted: int,
        updated: int,
        unchanged: int,
    ) -> None:
        """Blocks of one line or two: the repeat of key 1 (line 5) is in another batch than its first row
        (line 2), whichever way the first row was written (straight COPY, found unchanged, updated)."""
        if before is not None:
            (tmp_path / "earlier.csv").write_text(f"id,email,signup_at,consent\n1,{before},2026-01-05,yes\n")
            only(load(write_mapping(tmp_path, customers_mapping("earlier.csv")), url))
        monkeypatch.setattr(loader_sources, "BLOCK_SIZE", 32)
        (tmp_path / "customers.csv").write_text(
            "id,email,signup_at,consent\n"
            "1,a1@x.com,2026-01-05,yes\n"
            "2,b2@x.com,2026-01-05,no\n"
            "3,c3@x.com,2026-01-05,no\n"
            "1,z9@x.com,2026-01-05,no\n"
        )
        summary = only(load(write_mapping(tmp_path, customers_mapping("customers.csv")), url))
        assert (summary.rows_read, summary.rows_loaded, summary.quarantined_by_reason) == (4, 3, {"duplicate_key": 1})
        assert (summary.rows_inserted, summary.rows_updated, summary.rows_unchanged) == (inserted, updated, unchanged)
        assert rows(url, "select email from raw.customers where customer_id = 1") == [(first_email,)]
        assert [(rule, line, column) for rule, _, line, column in quarantine(url)] == [("duplicate_key", 5, "id")]

    def test_ten_percent_garbage_rows(self, url: str, tmp_path: Path) -> None:
        """Every tenth line is garbage of a different kind; counts are exact and every reason is named."""
        lines = ["id,email,signup_at,consent"]
        kinds = [
            "not-a-number,x@x.com,2026-01-05,yes",
            "{n},x@x.com,yesterday,yes",
            "{n},x@x.com",
            ",x@x.com,2026-01-05,no",
        ]
        expected: dict[str, int] = {}
        names = ["unparseable_number", "unparseable_timestamp", "malformed_row", "missing_required_field"]
        for n in range(1, 1001):
            if n % 10 == 0:
                kind = (n // 10) % 4
                lines.append(kinds[kind].format(n=n))
                expected[names[kind]] = expected.get(names[kind], 0) + 1
            else:
                lines.append(f"{n},c{n}@x.com,2026-01-05 10:00:00,yes")
        (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n")
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_read, summary.rows_loaded) == (1000, 900)
        assert summary.quarantined_by_reason == expected
        quarantined = quarantine(url)
        assert sorted(line for _, _, line, _ in quarantined) == [n + 1 for n in range(10, 1001, 10)]

    @pytest.mark.parametrize(
        ("content", "note"),
        [(b"", "empty file (0 bytes)"), (b"id,email,signup_at,consent\n", "no rows (header only)")],
        ids=["zero-bytes", "header-only"],
    )
    def test_empty_files_load_nothing_and_say_so(self, url: str, tmp_path: Path, content: bytes, note: str) -> None:
        (tmp_path / "customers.csv").write_bytes(content)
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_read, summary.rows_loaded, summary.already_loaded) == (0, 0, False)
        assert summary.notes == [note]

    def test_blank_lines_are_not_rows_but_keep_line_numbers(self, url: str, tmp_path: Path) -> None:
        (tmp_path / "customers.csv").write_text(
            "id,email,signup_at,consent\n\n1,a@x.com,2026-01-05,yes\n\nx,b@x.com,2026-01-05,yes\n\n"
        )
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_read, summary.rows_loaded) == (2, 1)
        assert [(rule, line) for rule, _, line, _ in quarantine(url)] == [("unparseable_number", 5)]

    def test_a_quoted_line_break_quarantines_its_record_and_later_lines_keep_their_numbers(
        self, url: str, tmp_path: Path
    ) -> None:
        """A record whose quoted value holds a line break (in a mapped column or not) is a malformed row at the
        line it starts on, with every column in its row_data; the lines after it load, or are quarantined at
        their own physical line; rows read = loaded + quarantined."""
        path = tmp_path / "customers.csv"
        path.write_text(
            "id,email,signup_at,consent,note\n"  # 1
            "1,a@x.com,2026-01-05,yes,\n"  # 2
            '2,"b@x.com\n'  # 3
            '",2026-01-05,yes,\n'  # 4
            '3,c@x.com,2026-01-05,yes,"call after 6pm\n'  # 5
            'ask for Ana"\n'  # 6
            "x,d@x.com,2026-01-05,yes,\n"  # 7
            "5,e@x.com\n"  # 8
            "6,f@x.com,2026-01-05,no,\n"  # 9
        )
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_read, summary.rows_loaded) == (6, 2)
        assert summary.quarantined_by_reason == {"malformed_row": 3, "unparseable_number": 1}
        assert quarantine(url) == [
            ("malformed_row", str(path), 3, None),
            ("malformed_row", str(path), 5, None),
            ("unparseable_number", str(path), 7, "id"),
            ("malformed_row", str(path), 8, None),
        ]
        assert rows(url, "select row_data from raw.quarantine where source_line = 5") == [
            (
                {
                    "id": "3",
                    "email": "c@x.com",
                    "signup_at": "2026-01-05",
                    "consent": "yes",
                    "note": "call after 6pm\nask for Ana",
                },
            )
        ]
        assert rows(url, "select customer_id, email from raw.customers order by 1") == [(1, "a@x.com"), (6, "f@x.com")]

    def test_quoted_line_breaks_across_blocks(self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        """Records with a quoted line break straddling the reader's blocks (small blocks here; 8 MiB in use): the
        file loads instead of failing whole, each such record quarantined at its first line."""
        monkeypatch.setattr(loader_sources, "BLOCK_SIZE", 256)
        lines, expected, line = ["id,email,signup_at,consent,note"], [], 2
        for n in range(1, 301):
            note = '"wrap\nped"' if n % 10 == 0 else ""
            lines.append(f"{n},c{n}@x.com,2026-01-05,yes,{note}")
            if note:
                expected.append(line)
            line += 1 + note.count("\n")
        (tmp_path / "customers.csv").write_text("\n".join(lines) + "\n")
        summary = only(load(write_mapping(tmp_path, customers_mapping()), url))
        assert (summary.rows_read, summary.rows_loaded, summary.quarantined_by_reason) == (
            300,
            270,
            {"malformed_row": 30},
        )
        assert [line for _, _, line, _ in quarantine(url)] == expected

    def test_a_quote_never_closed_fails_the_file_naming_the_line(
        self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """An opening quote whose record runs past a block (8 MiB in use) cannot be read in bounded memory: the
        file fails whole (exit 2, no traceback) with its name and the line the quote follows; nothing of it loads."""
        monkeypatch.setattr(loader_sources, "BLOCK_SIZE", 256)
        good = "".join(f"{n},c{n}@x.com,2026-01-05,yes\n" for n in range(1, 40))
        rest = "".join(f"{n},c{n}@x.com,2026-01-05,yes\n" for n in range(41, 100))
        (tmp_path / "customers.csv").write_text(f'id,email,signup_at,consent\n{good}40,"oops,2026-01-05,yes\n{rest}')
        mapping = write_mapping(tmp_path, customers_mapping())
        result = runner.invoke(app, ["load", "--mapping", str(mapping)], env={"LOYALTY_WAREHOUSE_URL": url})
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert "customers.csv: after line" in result.output and "without its closing quote" in result.output
        assert rows(url, "select count(*) from raw.customers") == [(0,)]
        assert quarantine(url) == []

    def test_negative_values_and_unknown_references(self, url: str, tmp_path: Path) -> None:
        """Orders of an unknown customer, negative totals, lines of unknown orders or products, zero quantity;
        an order whose customer comes in the same load is known (entities load in dependency order)."""
        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        (tmp_path / "products.csv").write_text("id,name,category,price\n10,Tea,Drinks,3.50\n11,Cake,Food,-1\n")
        (tmp_path / "orders.csv").write_text(
            "id,customer,at,status,total\nA,1,2026-02-01T10:00:00Z,completed,7.00\n"
            "B,99,2026-02-01T10:00:00Z,completed,7.00\nC,2,2026-02-01T10:00:00Z,completed,-5\n"
        )
        (tmp_path / "lines.csv").write_text(
            "id,order,product,qty,price\nA-1,A,10,2,3.50\nA-2,A,11,1,1.00\nB-1,B,10,1,3.50\nA-3,A,10,0,3.50\n"
        )
        entities = {
            **customers_mapping("customers.csv"),
            "order_lines": {
                "source": {"path": "lines.csv"},
                "columns": {
                    "order_line_id": "id",
                    "order_id": "order",
                    "product_id": "product",
                    "quantity": "qty",
                    "unit_price": "price",
                },
            },
            "orders": {
                "source": {"path": "orders.csv"},
                "columns": {
                    "order_id": "id",
                    "customer_id": "customer",
                    "ordered_at": "at",
                    "status": "status",
                    "order_total": "total",
                },
            },
            "products": {
                "source": {"path": "products.csv"},
                "columns": {"product_id": "id", "product_name": "name", "category": "category", "unit_price": "price"},
            },
        }
        report = load(write_mapping(tmp_path, entities), url)
        assert [s.entity for s in report.sources] == ["customers", "products", "orders", "order_lines"]
        by_entity = {s.entity: (s.rows_loaded, s.quarantined_by_reason) for s in report.sources}
        assert by_entity == {
            "customers": (3, {}),
            "products": (1, {"negative_unit_price": 1}),
            "orders": (1, {"negative_order_total": 1, "unknown_customer": 1}),
            "order_lines": (1, {"non_positive_quantity": 1, "unknown_order": 1, "unknown_product": 1}),
        }
        assert ("unknown_customer", str(tmp_path / "orders.csv"), 3, "customer") in quarantine(url)


class TestMappingErrors:
    def test_a_column_the_file_does_not_have(self, url: str, tmp_path: Path) -> None:
        """A required column missing from the file (or a mapping naming a column that does not exist) is a
        mapping error naming the mapping's line and the file, before anything loads."""
        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        (tmp_path / "products.csv").write_text("id,name,category\n10,Tea,Drinks\n")
        entities = {
            **customers_mapping("customers.csv"),
            "products": {
                "source": {"path": "products.csv"},
                "columns": {"product_id": "id", "product_name": "name", "category": "category", "unit_price": "price"},
            },
        }
        mapping = write_mapping(tmp_path, entities)
        with pytest.raises(MappingError) as error:
            load(mapping, url)
        line = next(n for n, text in enumerate(mapping.read_text().splitlines(), 1) if "unit_price: price" in text)
        assert f"{mapping}: line {line}: entities.products.columns.unit_price" in str(error.value)
        assert "'price' is not in" in str(error.value) and "products.csv" in str(error.value)
        assert rows(url, "select count(*) from raw.customers") == [(0,)]  # checked before anything loaded

    def test_cli_exit_codes_and_messages_without_traceback(self, url: str, tmp_path: Path) -> None:
        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        good = write_mapping(tmp_path, customers_mapping())
        env = {"LOYALTY_WAREHOUSE_URL": url}
        result = runner.invoke(app, ["load", "--mapping", str(good), "--format", "json"], env=env)
        assert result.exit_code == 0, result.output
        (summary,) = json.loads(result.output)["sources"]
        assert {k: summary[k] for k in ("entity", "rows_read", "rows_loaded", "rows_quarantined")} == {
            "entity": "customers",
            "rows_read": 3,
            "rows_loaded": 3,
            "rows_quarantined": 0,
        }
        assert set(summary) >= {"source", "rows_unchanged", "quarantined_by_reason", "already_loaded"}
        table = runner.invoke(app, ["load", "--mapping", str(good)], env=env)
        assert table.exit_code == 0 and "already loaded" in table.output
        bad = tmp_path / "bad.yml"
        bad.write_text("entities:\n  customers:\n    source: {path: customers.csv}\n    columns: {customer_id: id}\n")
        result = runner.invoke(app, ["load", "--mapping", str(bad)], env=env)
        assert result.exit_code == 2
        assert f"{bad}" in result.output and "line 4: entities.customers.columns.signup_at" in result.output
        assert "Traceback" not in result.output
        missing = write_mapping(tmp_path, customers_mapping("nothing*.csv"))
        result = runner.invoke(app, ["load", "--mapping", str(missing)], env=env)
        assert result.exit_code == 2 and "no file matches" in result.output and "Traceback" not in result.output

    def test_unreadable_source_database(self, url: str, tmp_path: Path) -> None:
        mapping = write_mapping(
            tmp_path,
            {
                "customers": {
                    "source": {"url": url, "table": "shop.no_such_table"},
                    "columns": dict(CUSTOMER_COLUMNS),
                }
            },
        )
        with pytest.raises(SourceError, match=r"table shop\.no_such_table: cannot be read"):
            load(mapping, url)

    def test_bytes_a_single_byte_encoding_does_not_define(self, url: str, tmp_path: Path) -> None:
        """cp1252 leaves 0x81 undefined: pyarrow decodes the whole stream, so the file cannot be read (a source
        error naming the file and the encoding, exit 2 without a traceback), and nothing of it loads."""
        (tmp_path / "customers.csv").write_bytes(b"id,email,signup_at,consent\n1,a\x81@x.com,2026-01-05,yes\n")
        mapping = write_mapping(tmp_path, customers_mapping(encoding="cp1252"))
        with pytest.raises(SourceError, match=r"customers\.csv: cannot be read as cp1252 CSV"):
            load(mapping, url)
        result = runner.invoke(app, ["load", "--mapping", str(mapping)], env={"LOYALTY_WAREHOUSE_URL": url})
        assert result.exit_code == 2 and "Traceback" not in result.output
        assert rows(url, "select count(*) from raw.customers") == [(0,)]


class TestIdempotence:
    def test_the_same_file_twice_changes_nothing(self, url: str, tmp_path: Path) -> None:
        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV + "x,bad@x.com,2026-01-05,yes\n")
        mapping = write_mapping(tmp_path, customers_mapping())
        load(mapping, url)
        before = rows(url, "select customer_id, xmin::text, loaded_at from raw.customers order by 1")
        again = only(load(mapping, url))
        assert again.already_loaded and again.rows_loaded == 0
        assert rows(url, "select customer_id, xmin::text, loaded_at from raw.customers order by 1") == before
        assert len(quarantine(url)) == 1

    def test_a_corrected_reexport_updates_only_the_changed_rows(self, url: str, tmp_path: Path) -> None:
        """A new file (other checksum) with one row changed and one added: the others are not rewritten."""
        (tmp_path / "customers_1.csv").write_text(CUSTOMERS_CSV)
        mapping = write_mapping(tmp_path, customers_mapping("customers_1.csv"))
        load(mapping, url)
        before = dict(rows(url, "select customer_id, xmin::text from raw.customers"))
        corrected = CUSTOMERS_CSV.replace("bob@example.com", "bob@new.example.com") + "4,dan@x.com,2026-01-08,yes\n"
        (tmp_path / "customers_2.csv").write_text(corrected)
        summary = only(load(write_mapping(tmp_path, customers_mapping("customers_2.csv")), url))
        assert (summary.rows_inserted, summary.rows_updated, summary.rows_unchanged) == (1, 1, 2)
        after = dict(rows(url, "select customer_id, xmin::text from raw.customers"))
        assert [c for c in before if after[c] != before[c]] == [2]
        assert rows(url, "select email from raw.customers where customer_id = 2") == [("bob@new.example.com",)]

    def test_a_failure_mid_file_leaves_none_of_that_file(
        self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Glob of two files; the second fails after its rows were upserted and quarantined, before the file
        is recorded: the first file stays whole, nothing of the second (rows, quarantine, loaded_files) is
        left, and loading again finishes it."""
        (tmp_path / "customers_1.csv").write_text(CUSTOMERS_CSV)
        (tmp_path / "customers_2.csv").write_text(
            "id,email,signup_at,consent\n"
            + "".join(f"{n},c{n}@x.com,2026-01-05,yes\n" for n in range(10, 60))
            + "bad,x,2026-01-05,yes\n"
        )
        mapping = write_mapping(tmp_path, customers_mapping())
        real_count = loader_run._count
        calls = {"n": 0}

        def crash_on_second_file(*args: object, **kwargs: object) -> None:
            calls["n"] += 1
            real_count(*args, **kwargs)  # type: ignore[arg-type]
            if calls["n"] == 2:
                raise RuntimeError("killed mid-file")

        monkeypatch.setattr(loader_run, "_count", crash_on_second_file)
        with pytest.raises(RuntimeError, match="killed mid-file"):
            load(mapping, url)
        assert rows(url, "select count(*) from raw.customers") == [(3,)]
        assert rows(url, "select count(*) from raw.loaded_files") == [(1,)]
        assert quarantine(url) == []
        monkeypatch.setattr(loader_run, "_count", real_count)
        report = load(mapping, url)
        assert [(s.already_loaded, s.rows_loaded, s.rows_quarantined) for s in report.sources] == [
            (True, 0, 0),
            (False, 50, 1),
        ]


class TestLoadDag:
    def test_the_load_task_skips_fails_or_loads(
        self, url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The `loyalty_load` DAG's task, as its doc says: no mapping configured skips; a wrong mapping fails
        without retries (AirflowFailException); a source that cannot be read raises a retryable error; a good
        mapping loads and returns the report (XCom)."""
        from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

        from loyalty.orchestration.factory import LOAD_MAPPING_ENV, load_dag

        monkeypatch.delenv("AIRFLOW_CONN_LOYALTY_WAREHOUSE", raising=False)
        monkeypatch.delenv("AIRFLOW_VAR_LOYALTY_LOAD_MAPPING", raising=False)
        monkeypatch.delenv(LOAD_MAPPING_ENV, raising=False)
        monkeypatch.setenv("LOYALTY_WAREHOUSE_URL", url)
        task = load_dag().get_task("load")
        with pytest.raises(AirflowSkipException, match="no mapping"):
            task.python_callable()

        (tmp_path / "customers.csv").write_text(CUSTOMERS_CSV)
        bad = tmp_path / "bad.yml"
        bad.write_text("entities:\n  customers:\n    source: {path: customers.csv}\n    columns: {customer_id: id}\n")
        monkeypatch.setenv(LOAD_MAPPING_ENV, str(bad))
        with pytest.raises(AirflowFailException, match=r"entities\.customers\.columns\.signup_at"):
            task.python_callable()

        (tmp_path / "cp1252.csv").write_bytes(b"id,email,signup_at,consent\n1,a\x81@x.com,2026-01-05,yes\n")
        unreadable = write_mapping(tmp_path, customers_mapping("cp1252.csv", encoding="cp1252"))
        monkeypatch.setenv(LOAD_MAPPING_ENV, str(unreadable))
        with pytest.raises(RuntimeError, match="cannot be read as cp1252"):  # retried: not AirflowFailException
            task.python_callable()

        monkeypatch.setenv(LOAD_MAPPING_ENV, str(bad))
        monkeypatch.setenv("AIRFLOW_VAR_LOYALTY_LOAD_MAPPING", str(write_mapping(tmp_path, customers_mapping())))
        report = task.python_callable()  # the Variable wins over the env var (the bad mapping)
        (summary,) = report["sources"]
        assert (summary["entity"], summary["rows_loaded"]) == ("customers", 3)
        assert rows(url, "select count(*) from raw.customers") == [(3,)]
