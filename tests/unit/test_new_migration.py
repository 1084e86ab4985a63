"""`loyalty-dev new-migration` starts a revision that continues the chain: the next id after head, its SQL file
of the same name, and a revision file in the style of the shipped ones (ruff-clean, forward only)."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from loyalty.migrations import alembic_config
from loyalty.migrations.commands import MIGRATIONS_DIR
from loyalty.paths import SQL_DIR
from loyalty_dev.cli import app
from loyalty_dev.new_migration import new_migration


@pytest.fixture
def copies(tmp_path: Path) -> tuple[Path, Path]:
    """The package's migration environment and SQL files, copied: the test never writes into the package."""
    migrations_dir = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, migrations_dir, ignore=shutil.ignore_patterns("__pycache__"))
    sql_dir = tmp_path / "sql"
    shutil.copytree(SQL_DIR / "migrations", sql_dir)
    return migrations_dir, sql_dir


class TestNewMigration:
    def test_writes_the_next_revision_and_its_sql_file(self, copies: tuple[Path, Path]) -> None:
        migrations_dir, sql_dir = copies
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
        assert head is not None
        revision_file, sql_file = new_migration("consent_history", "Consent history: one row per change.", *copies)
        expected = f"{int(head) + 1:04d}"
        assert revision_file == migrations_dir / "versions" / f"{expected}_consent_history.py"
        assert sql_file == sql_dir / f"{expected}_consent_history.sql"
        assert sql_file.read_text().startswith(f"-- Revision {expected}, Consent history")

        script = ScriptDirectory.from_config(alembic_config(script_location=migrations_dir))
        assert script.get_current_head() == expected
        revision = script.get_revision(expected)
        assert revision.down_revision == head
        assert (revision.doc or "").splitlines()[0] == "Consent history: one row per change."
        text = revision_file.read_text()
        assert f'run_file("{expected}_consent_history.sql")' in text and "forward_only(revision)" in text
        ruff = Path(sys.executable).parent / "ruff"
        for args in (["check"], ["format", "--check"]):
            result = subprocess.run([ruff, *args, str(revision_file)], capture_output=True, text=True, check=False)
            assert result.returncode == 0, result.stdout + result.stderr

    @pytest.mark.parametrize(
        ("slug", "title", "problem"),
        [("Consent", "A title.", "slug 'Consent'"), ("1st", "A title.", "slug '1st'"), ("ok", " ", "title")],
    )
    def test_a_bad_slug_or_title_is_refused(
        self, copies: tuple[Path, Path], slug: str, title: str, problem: str
    ) -> None:
        with pytest.raises(ValueError, match=problem):
            new_migration(slug, title, *copies)
        assert sorted(path.name for path in copies[1].iterdir()) == sorted(
            path.name for path in (SQL_DIR / "migrations").iterdir()
        )

    def test_the_command_names_the_problem(self) -> None:
        result = CliRunner().invoke(app, ["new-migration", "Bad-Slug", "A title."])
        assert result.exit_code == 2 and "slug 'Bad-Slug'" in result.output and "Traceback" not in result.output
