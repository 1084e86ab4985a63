"""The one way to load the application's SQL: named `.sql` files under loyalty/sql, grouped by job.

Why one loader: SQL kept in Python strings, in a Jinja environment of its own and in files formatted
by hand drifted apart, could not be linted (SQLFluff reads files) and copied shared pieces. Every
statement the product runs now comes from a file through `query` (or `read_sql` for plain text):

- ``-- include: <path>.sql`` lines (paths relative to the directory) are replaced by that file's
  text (a fragment: it may include others), so statements share a CTE instead of copying it;
- ``structure`` renders the file with Jinja: only the statement's *shape* (which CTEs, which
  channels), decided by a validated spec, never a value; it may import macros written in plain Jinja
  from dbt_project/macros (the contact-permission rule), so a rule the warehouse uses is not copied;
- ``identifiers`` fill ``{name}`` placeholders with `psycopg.sql` composables (an
  ``sql.Identifier`` quotes a spec's schema, model or column, already checked by the spec's regex);
- values are always bound: ``%(name)s`` parameters, passed to ``execute``.

Only one-line reads and housekeeping (``select 1``, ``analyze``, ``to_regclass``) stay inline; every
write and every statement longer than a line is a file.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, overload

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template
from psycopg import sql

from loyalty.paths import DBT_MACROS_DIR, SQL_DIR

__all__ = ["INCLUDE", "SQL_DIR", "included_files", "query", "read_sql"]

INCLUDE = re.compile(r"^-- include: (?P<name>[\w./]+\.sql)$\n?", re.MULTILINE)  # the line, its newline too


@lru_cache(maxsize=256)
def read_sql(name: str, directory: Path = SQL_DIR) -> str:
    """The text of `directory/name` with every ``-- include:`` line replaced by the included file's text
    (read once per process: the files ship with the package)."""
    text = (directory / name).read_text()
    return INCLUDE.sub(lambda match: read_sql(match.group("name"), directory), text)


def included_files(directory: Path = SQL_DIR) -> set[str]:
    """Names (relative to `directory`) of the files other files include: fragments, not statements."""
    return {match.group("name") for path in directory.rglob("*.sql") for match in INCLUDE.finditer(path.read_text())}


@lru_cache(maxsize=64)
def _template(name: str, directory: Path) -> Template:
    environment = Environment(
        # `{% from "contact_permission.sql" import ... %}`: a rule the dbt project uses too is imported, not copied
        loader=FileSystemLoader([directory, DBT_MACROS_DIR]),
        undefined=StrictUndefined,
        autoescape=False,  # noqa: S701 - SQL, not HTML; values are bound parameters, never rendered
        keep_trailing_newline=True,
    )
    return environment.from_string(read_sql(name, directory))


@overload
def query(
    name: str, directory: Path = ..., *, structure: Mapping[str, Any] | None = ..., identifiers: None = ...
) -> str: ...


@overload
def query(
    name: str,
    directory: Path = ...,
    *,
    structure: Mapping[str, Any] | None = ...,
    identifiers: Mapping[str, sql.Composable],
) -> sql.Composed: ...


def query(
    name: str,
    directory: Path = SQL_DIR,
    *,
    structure: Mapping[str, Any] | None = None,
    identifiers: Mapping[str, sql.Composable] | None = None,
) -> str | sql.Composed:
    """A statement ready for ``execute(query(...), params)``: includes resolved, then the Jinja
    `structure` rendered (when given), then the `{name}` `identifiers` filled in (when given).
    Text (`str`) without identifiers, a `psycopg.sql.Composed` with them: callers need no isinstance check."""
    text = _template(name, directory).render(**structure) if structure is not None else read_sql(name, directory)
    if identifiers is not None:
        return sql.SQL(text).format(**identifiers)
    return text
