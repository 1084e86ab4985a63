"""Apply and inspect the application tables' migrations: alembic configured in code, no alembic.ini to find.

Alembic talks to Postgres through SQLAlchemy; its engine gets each connection from psycopg (`creator=`), so
every URL psycopg takes works here too, pgserver's socket form (`postgresql://postgres:@/db?host=/dir`)
included. Each revision commits on its own (`transaction_per_migration`): a failing one rolls back alone and
the warehouse stays at the revision before it.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import psycopg
import sqlalchemy
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import NullPool

from loyalty.urls import redacted

MIGRATIONS_DIR = Path(__file__).parent
VERSION_TABLE_SCHEMA = "loyalty"
VERSION_TABLE = "alembic_version"
# Alembic's `context` and `op` are module-level proxies: one migration run per process at a time (across
# processes, env.py's advisory lock orders them).
_RUNNING = threading.Lock()


class MigrationError(Exception):
    """A warehouse that cannot be upgraded or read: the message says which revision, which warehouse and why."""


@dataclass(frozen=True)
class MigrationStatus:
    """Where a warehouse stands: `current` is None before its first migration (new, or made by the old
    schema.sql), `pending` the revisions `upgrade` would apply, oldest first."""

    current: str | None
    head: str
    pending: tuple[str, ...]

    @property
    def is_current(self) -> bool:
        return not self.pending


def alembic_config(output_buffer: io.StringIO | None = None, script_location: Path = MIGRATIONS_DIR) -> Config:
    """Alembic's configuration, in code (what an alembic.ini would hold): the revisions shipped in this package."""
    config = Config(output_buffer=output_buffer)
    config.set_main_option("script_location", str(script_location).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    return config


@cache
def _script() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config())


def revision_title(revision: str) -> str:
    """The first line of a revision's docstring (what `loyalty warehouse upgrade` prints next to its id)."""
    try:
        lines = (_script().get_revision(revision).doc or "").splitlines()
    except CommandError:  # not a revision of ours: nothing to show
        return ""
    return lines[0] if lines else ""


def _reason(error: BaseException) -> str:
    original = getattr(error, "orig", None) or error
    return " ".join(str(original).split())


@contextmanager
def _connection(url: str) -> Iterator[Connection]:
    """A SQLAlchemy connection (what alembic needs) over a psycopg connection to `url`."""
    engine = sqlalchemy.create_engine("postgresql+psycopg://", creator=lambda: psycopg.connect(url), poolclass=NullPool)
    try:
        connection = engine.connect()
    except (DBAPIError, psycopg.Error) as error:
        engine.dispose()
        raise MigrationError(f"cannot reach the warehouse {redacted(url)}: {_reason(error)}") from error
    try:
        with connection:
            yield connection
    finally:
        engine.dispose()


def _pending(current: str | None) -> tuple[str, ...]:
    script = _script()
    if current is not None and current not in {rev.revision for rev in script.walk_revisions()}:
        raise MigrationError(
            f"the warehouse is at revision {current!r}, which this version of loyalty does not know "
            "(upgraded by a newer release?): upgrade loyalty itself"
        )
    return tuple(rev.revision for rev in reversed(list(script.iterate_revisions("heads", current or "base"))))


def status(url: str) -> MigrationStatus:
    """The warehouse's revision against the newest one this code ships."""
    with _connection(url) as connection:
        context = MigrationContext.configure(
            connection, opts={"version_table_schema": VERSION_TABLE_SCHEMA, "version_table": VERSION_TABLE}
        )
        current = context.get_current_revision()
    head = _script().get_current_head()
    assert head is not None  # the package ships its revisions
    return MigrationStatus(current=current, head=head, pending=_pending(current))


def upgrade(url: str, revision: str = "head") -> list[str]:
    """Apply the pending revisions up to `revision` (every one by default) and return those applied, in order.

    A warehouse made by the old schema.sql (tables, no version table) upgrades like a new one: every revision
    is idempotent. Two upgrades at once wait for each other (an advisory lock in env.py)."""
    before = status(url)
    config = alembic_config()
    applied: list[str] = []
    config.attributes["applied"] = applied
    try:
        with _RUNNING, _connection(url) as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except CommandError as error:
        raise MigrationError(f"cannot upgrade the warehouse {redacted(url)} to {revision!r}: {error}") from error
    except (DBAPIError, psycopg.Error) as error:
        failing = before.pending[len(applied)] if len(applied) < len(before.pending) else revision
        kept = f"; revisions applied before it are kept: {', '.join(applied)}" if applied else ""
        raise MigrationError(
            f"revision {failing} ({revision_title(failing)}) failed on the warehouse {redacted(url)}, "
            f"which stays at the revision before it: {_reason(error)}{kept}"
        ) from error
    return applied


def upgrade_sql(url: str, revision: str = "head") -> str:
    """The SQL `upgrade` would run, from the warehouse's current revision (alembic's offline mode; nothing runs)."""
    current = status(url).current
    buffer = io.StringIO()
    try:
        with _RUNNING:
            command.upgrade(
                alembic_config(output_buffer=buffer), f"{current}:{revision}" if current else revision, sql=True
            )
    except CommandError as error:
        raise MigrationError(f"cannot write the SQL from {current} to {revision!r}: {error}") from error
    return buffer.getvalue()
