"""SQLFluff over the application's SQL as loyalty.sql_files loads it: `python -m loyalty_dev.sql_lint` (in `make lint`).

SQLFluff reads files, but some statements only exist once loaded: `-- include:` lines pull in shared
fragments, and ledger/plan_action.sql is Jinja whose shape a workflow spec decides. So every `.sql` file
under plugins/loyalty/sql and plugins/loyalty_dev is linted with its includes resolved (a fragment inside
each statement that includes it), and the Jinja one as the ledger renders it for every action of every
workflow in workflows/ (with and without an earlier plan). The rules: plugins/.sqlfluff (postgres, the
placeholder templater for `%(name)s` values and `{name}` identifiers). Plain files can also be fixed in
place: `cd plugins && ../.venv/bin/sqlfluff fix loyalty/sql/<file>.sql` (review the diff: a fix may not know
what a placeholder stands for).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import lru_cache
from typing import Any

from loyalty.paths import PACKAGE_DIR, SQL_DIR, WORKFLOWS_DIR
from loyalty.sql_files import included_files, read_sql

PLUGINS_DIR = PACKAGE_DIR.parent
ROOTS = (SQL_DIR, PLUGINS_DIR / "loyalty_dev")
JINJA = re.compile(r"\{[%#{]")


def _plan_action_renderings() -> Iterator[tuple[str, str]]:
    from loyalty.ledger import render_action_sql
    from loyalty.specs import branch_siblings, compile_journey, load_spec, spec_paths

    for path in spec_paths(WORKFLOWS_DIR):
        spec = load_spec(path)
        actions = compile_journey(spec)
        for action in actions:
            for windowed in (False, True):
                text = render_action_sql(spec, action, windowed, branch_siblings(actions, action))
                yield f"{spec.id}/{action.step_id}{', windowed' if windowed else ''}", text
    # No shipped workflow routes by the preferred channel yet: the shape is linted on win_back's step, with its
    # fallback statement (a step with a channel order).
    spec = load_spec(WORKFLOWS_DIR / "win_back.yml")
    action = replace(compile_journey(spec)[0], channels=("email", "sms", "push"), prefers=True)
    yield "win_back/email_1 as [preferred, email, sms, push]", render_action_sql(spec, action)
    for windowed in (False, True):
        text = render_action_sql(spec, action, windowed, fallback=True)
        yield f"win_back/email_1 as [preferred, email, sms, push], fallback{', windowed' if windowed else ''}", text


def _release_deferred_renderings() -> Iterator[tuple[str, str]]:
    from loyalty.sql_files import query

    for capped in (False, True):
        yield f"frequency cap: {capped}", query("ledger/release_deferred.sql", structure={"frequency_cap": capped})


def _audience_renderings() -> Iterator[tuple[str, str]]:
    from loyalty.quality.checks import audience_sql

    yield "every channel", audience_sql()


def _contactable_renderings() -> Iterator[tuple[str, str]]:
    from loyalty.specs.preview import contactable_sql

    yield "every channel", contactable_sql()


def _loader_apply_renderings() -> Iterator[tuple[str, str]]:
    from loyalty.loader.entities import ENTITIES
    from loyalty.loader.writer import apply_sql

    for entity in ENTITIES.values():
        yield f"{entity.name}, every field", apply_sql(entity, list(entity.field_names))
        yield f"{entity.name}, required fields", apply_sql(entity, list(entity.required))


RENDERINGS = {
    (SQL_DIR, "ledger/plan_action.sql"): _plan_action_renderings,
    (SQL_DIR, "ledger/release_deferred.sql"): _release_deferred_renderings,
    (SQL_DIR, "quality/audience.sql"): _audience_renderings,
    (SQL_DIR, "ledger/contactable_channels.sql"): _contactable_renderings,
    (SQL_DIR, "loader/apply.sql"): _loader_apply_renderings,
}


def statements() -> Iterator[tuple[str, str]]:
    """(label, text) of every statement to lint, each distinct text once."""
    seen: set[str] = set()
    for root in ROOTS:
        fragments = included_files(root)
        for path in sorted(root.rglob("*.sql")):
            name = str(path.relative_to(root))
            if name in fragments:
                continue
            label = str(path.relative_to(PLUGINS_DIR))
            text = read_sql(name, root)
            if not JINJA.search(text):
                yield label, text
                continue
            if (root, name) not in RENDERINGS:
                raise SystemExit(f"{label} is Jinja: add its renderings to loyalty_dev.sql_lint.RENDERINGS")
            for rendering, rendered in RENDERINGS[(root, name)]():
                if rendered not in seen:
                    seen.add(rendered)
                    yield f"{label} (as rendered for {rendering})", rendered


@lru_cache(maxsize=1)
def _linter() -> Any:
    from sqlfluff.core import FluffConfig, Linter

    return Linter(config=FluffConfig.from_path(str(PLUGINS_DIR)))


def lint(label: str, text: str) -> list[str]:
    """SQLFluff's findings in one statement, each with its line."""
    lines = text.splitlines()
    found = []
    for violation in _linter().lint_string(text, fname=label).get_violations():
        line = lines[violation.line_no - 1].strip() if 0 < violation.line_no <= len(lines) else ""
        found.append(
            f"{label}:{violation.line_no}:{violation.line_pos} {violation.rule_code()} {violation.desc()}\n    {line}"
        )
    return found


def main() -> int:
    todo = list(statements())
    with ProcessPoolExecutor(max_workers=2) as pool:
        found = [item for items in pool.map(lint, *zip(*todo, strict=True)) for item in items]
    print("\n".join(found) if found else f"sqlfluff: {len(todo)} statements clean")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
