"""Fixtures for tests against the real Postgres and the real provider emulator."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import psycopg
import pytest

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import WorkflowSpec, load_spec
from loyalty_dev.services import Service, start_service

RUN_DATE = dt.date(2026, 6, 1)
API_KEY = "SG.test-key"


@pytest.fixture
def spec() -> WorkflowSpec:
    return load_spec(WORKFLOWS_DIR / "win_back.yml")


@pytest.fixture
def audience(clean_warehouse: str) -> str:
    """A stand-in for the dbt model marts.eligible_win_back with the columns the ledger reads."""
    with psycopg.connect(clean_warehouse) as conn:
        conn.execute("create schema if not exists marts")
        conn.execute("drop table if exists marts.eligible_win_back cascade")
        conn.execute(
            """create table marts.eligible_win_back as
               select customer_id, %s::date as run_date, 'customer' || customer_id || '@example.com' as email,
                      true as email_consent,
                      'Ana' as first_name, case when customer_id %% 2 = 0 then 'pt-BR' else 'en' end as locale,
                      '2026-03-01' as cycle_key, 90 as days_since_last_order
               from generate_series(1, 2500) as customer_id""",
            [RUN_DATE],
        )
    return clean_warehouse


@pytest.fixture
def emulator() -> Iterator[Service]:
    """The provider emulator as a child process on a free port (no webhook target)."""
    service = start_service("emulator", ["loyalty_dev.emulator", "--port", "0", "--seed", "7", "--api-key", API_KEY])
    yield service
    service.stop()
