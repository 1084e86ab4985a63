"""The SQL files the application runs: shared pieces are included, not copied."""

from __future__ import annotations

from loyalty.warehouse import INCLUDE, read_sql


def test_sql_includes_are_resolved() -> None:
    """`-- include:` lines pull a shared CTE into both webhook ingest statements, exactly once each."""
    for name in ("ingest_events.sql", "ingest_sendgrid_events.sql"):
        text = read_sql(name)
        assert not INCLUDE.search(text)
        assert text.count("insert into loyalty.contactability") == 1
