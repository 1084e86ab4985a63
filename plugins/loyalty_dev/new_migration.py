"""`loyalty-dev new-migration`: start a revision of the application tables (its `.py` and its `.sql` file).

Alembic writes the revision from loyalty/migrations/script.py.mako with the next number after head as its id,
so ids read in order (0005 after 0004) and the revision and its SQL file share one name.
"""

from __future__ import annotations

import re
from pathlib import Path

from alembic import command
from alembic.script import ScriptDirectory

from loyalty.migrations import alembic_config
from loyalty.migrations.commands import MIGRATIONS_DIR
from loyalty.paths import SQL_DIR

SLUG = re.compile(r"^[a-z][a-z0-9_]{0,39}$")


def new_migration(
    slug: str, title: str, migrations_dir: Path = MIGRATIONS_DIR, sql_dir: Path = SQL_DIR / "migrations"
) -> tuple[Path, Path]:
    """Write `versions/NNNN_<slug>.py` and an SQL file `NNNN_<slug>.sql` to fill in; return both paths."""
    if not SLUG.match(slug):
        raise ValueError(f"slug {slug!r}: lowercase letters, digits and _ (at most 40), starting with a letter")
    if not title.strip() or "\n" in title:
        raise ValueError("title: one line saying what the revision changes")
    config = alembic_config(script_location=migrations_dir)
    head = ScriptDirectory.from_config(config).get_current_head()
    revision = f"{int(head or 0) + 1:04d}"
    sql_path = sql_dir / f"{revision}_{slug}.sql"
    config.set_main_option("file_template", f"%%(rev)s_{slug}")
    config.attributes["sql_file"] = sql_path.name
    script = command.revision(config, message=title.strip(), rev_id=revision)
    assert script is not None and not isinstance(script, list)
    sql_path.write_text(
        f"-- Revision {revision}, {title.strip()}\n"
        "-- Idempotent (if not exists, guarded changes) and columns appended last: see docs/architecture.md.\n"
    )
    return Path(script.path), sql_path
