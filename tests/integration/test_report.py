"""loyalty.report.fetch_report against the real Postgres: what it reads when only some marts are built."""

from __future__ import annotations

import psycopg
import pytest

from loyalty import report


class TestFetchReport:
    def test_unbuilt_marts_give_empty_figures_in_one_lookup(
        self, warehouse_url: str, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """With only the scorecard and the tiers mart built, the tiers come back (lowest rank first), every other
        figure is empty, and the statements run are one existence lookup for all relations plus one query per
        built relation (not a `to_regclass` round trip per figure)."""
        with psycopg.connect(warehouse_url) as conn:
            conn.execute("drop schema if exists marts cascade")  # in the transaction rolled back below
            conn.execute("create schema marts")
            conn.execute(
                "create table marts.metrics_workflow_variants as"
                " select 'win_back' as workflow_id, 'variant' as arm_type, 'a' as variant, 1.5::numeric as revenue"
            )
            conn.execute(
                "create table marts.metrics_loyalty_tiers as select * from (values"
                " ('gold', 3, 2::bigint, 50.0::numeric), ('bronze', 1, 5::bigint, 10.0::numeric))"
                " as tiers (loyalty_tier, tier_rank, customers, revenue_365d)"
            )
            executed: list[object] = []
            execute = psycopg.Cursor.execute

            def counting(self: psycopg.Cursor, statement: object, *args: object, **kwargs: object) -> object:
                executed.append(statement)
                return execute(self, statement, *args, **kwargs)

            monkeypatch.setattr(psycopg.Cursor, "execute", counting)
            figures = report.fetch_report(conn)
            monkeypatch.undo()
            conn.rollback()
        assert len(executed) == 3
        assert figures["workflows"] == [
            {"workflow_id": "win_back", "arm_type": "variant", "variant": "a", "revenue": 1.5}
        ]
        assert figures["program"]["tiers"] == [
            {"loyalty_tier": "bronze", "customers": 5, "revenue_365d": 10.0},
            {"loyalty_tier": "gold", "customers": 2, "revenue_365d": 50.0},
        ]
        assert (
            figures["program"]["months"]
            == figures["daily"]
            == figures["channels"]
            == figures["data_quality"]["suites"]
            == []
        )
        assert figures["program"]["points_liability"] is None
        assert figures["data_quality"]["checks"] == 0
