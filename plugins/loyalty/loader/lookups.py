"""Unknown references (a line's order, product or customer that is not in raw), looked up a batch at a time
on a connection of their own: one query per reference and batch over the batch's distinct values
(sql/loader/unknown_references.sql).

Why a connection of their own: the lookups (index probes, a few µs a value)
were the largest cost of a load after the COPY itself (18.6 s of 45 s for 10M order lines while they
shared the writer's connection). On their own connection they run while the writer COPYs the previous
batch. They see what is committed, which is enough: an entity loads after every entity it references,
each file in its own committed transaction.
"""

from __future__ import annotations

import psycopg
import pyarrow as pa
import pyarrow.compute as pc
from psycopg import sql

from loyalty.loader.entities import Entity
from loyalty.loader.parsing import PreparedBatch
from loyalty.sql_files import query

__all__ = ["ReferenceLookups"]


class ReferenceLookups:
    """Marks the rows of a batch that name an unknown reference (rows that failed an earlier rule keep it)."""

    def __init__(self, conn: psycopg.Connection, entity: Entity, fields: list[str]) -> None:
        self.conn = conn
        self.lookups = [
            (
                reference,
                query(
                    "loader/unknown_references.sql",
                    identifiers={
                        "value_type": sql.SQL(entity.field(reference.field).type),  # a type named in entities
                        "table": sql.Identifier("raw", reference.table),
                        "key": sql.Identifier(reference.key),
                    },
                ),
            )
            for reference in entity.references
            if reference.field in fields
        ]

    def mark(self, batch: PreparedBatch) -> PreparedBatch:
        reason, reason_field = batch.reason, batch.reason_field
        for reference, statement in self.lookups:
            value = batch.values[reference.field]
            asked = pc.unique(pc.drop_null(pc.filter(value, pc.is_null(reason))))
            if not len(asked):
                continue
            found = self.conn.execute(statement, {"values": asked.to_pylist()}).fetchall()
            if not found:
                continue
            missing = pa.array([row[0] for row in found], value.type)
            unknown = pc.and_(pc.is_null(reason), pc.is_in(value, missing))
            reason = pc.if_else(unknown, reference.reason, reason)
            reason_field = pc.if_else(unknown, reference.field, reason_field)
        batch.reason, batch.reason_field = reason, reason_field
        return batch
