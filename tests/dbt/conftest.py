"""Fixtures of the dbt tests."""

from __future__ import annotations

import psycopg
import pytest

DBT_SCHEMAS = ("staging", "intermediate", "marts", "snapshots", "seeds")


@pytest.fixture
def dbt_warehouse(clean_warehouse: str) -> str:
    """The session warehouse with empty application tables and no dbt-built relations, so incremental
    models, feature history and snapshots start from nothing in every test."""
    with psycopg.connect(clean_warehouse) as conn:
        for schema in DBT_SCHEMAS:
            conn.execute(f"drop schema if exists {schema} cascade")
    return clean_warehouse
