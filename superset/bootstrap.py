"""Prepare a Superset metadata database and load the loyalty bundle: run by the Superset virtualenv's Python.

    python superset/bootstrap.py BUNDLE        # a ZIP (loyalty dashboards) or the superset/bundle directory

In one process (one import of Superset, ~10 s instead of one per CLI command): migrate the metadata database
(`superset db upgrade`), create the admin user when missing (SUPERSET_ADMIN_USER / SUPERSET_ADMIN_PASSWORD; a
local run generates the password into LOYALTY_SUPERSET_HOME/admin_password), sync roles (`superset init`),
import the dashboards bundle (`superset import-dashboards`: overwrite by uuid, so a changed chart replaces the
old one; LOYALTY_WAREHOUSE_SQLALCHEMY_URI, when set, replaces the database's URI — docker compose sets it) and,
with LOYALTY_SUPERSET_PUBLIC=1, grant the read-only Public role access to the bundle's databases.
The loyalty package is not importable here: this file only talks to Superset.
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import sys
from pathlib import Path
from zipfile import ZipFile

logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("loyalty.superset.bootstrap")


def _admin_password() -> str:
    if os.environ.get("SUPERSET_ADMIN_PASSWORD"):
        return os.environ["SUPERSET_ADMIN_PASSWORD"]
    path = Path(os.environ["LOYALTY_SUPERSET_HOME"]) / "admin_password"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(18))
        path.chmod(0o600)
    return path.read_text().strip()


def _contents(bundle: Path) -> dict[str, str]:
    """The bundle's files by path relative to its root, as Superset's importer wants them."""
    import yaml
    from superset.commands.importers.v1.utils import get_contents_from_bundle

    if bundle.is_dir():
        contents = {str(path.relative_to(bundle)): path.read_text() for path in sorted(bundle.rglob("*.yaml"))}
    else:
        with ZipFile(bundle) as archive:
            contents = get_contents_from_bundle(archive)
    uri = os.environ.get("LOYALTY_WAREHOUSE_SQLALCHEMY_URI")
    for name in [name for name in contents if name.startswith("databases/")]:
        if uri:
            document = yaml.safe_load(contents[name])
            document["sqlalchemy_uri"] = uri
            contents[name] = yaml.safe_dump(document, sort_keys=False)
    return contents


def main(bundle: Path) -> None:
    from flask import g
    from flask_migrate import upgrade
    from superset.app import create_app

    app = create_app()
    with app.app_context():
        from superset import appbuilder, security_manager
        from superset.commands.dashboard.importers.dispatcher import ImportDashboardsCommand
        from superset.extensions import db
        from superset.models.core import Database

        upgrade()
        username = os.environ.get("SUPERSET_ADMIN_USER", "admin")
        admin = security_manager.find_user(username=username)
        if admin is None:
            admin = security_manager.add_user(
                username,
                "Loyalty",
                "Admin",
                f"{username}@localhost",
                security_manager.find_role("Admin"),
                password=_admin_password(),
            )
        # `superset init` (slow: it walks every view); once per metadata database and Superset version.
        from importlib.metadata import version

        __version__ = version("apache-superset")
        metadata = hashlib.sha256(app.config["SQLALCHEMY_DATABASE_URI"].encode()).hexdigest()[:12]
        marker = Path(app.config["DATA_DIR"]) / f".initialized-{__version__}-{metadata}"
        if not marker.exists():
            appbuilder.add_permissions(update_perms=True)
            security_manager.sync_role_definitions()
        g.user = admin
        ImportDashboardsCommand(_contents(bundle), overwrite=True).run()
        if app.config["PUBLIC_ROLE_LIKE"]:
            public = security_manager.find_role(app.config["AUTH_ROLE_PUBLIC"])
            for database in db.session.query(Database).all():
                pvm = security_manager.add_permission_view_menu("database_access", database.perm)
                security_manager.add_permission_role(public, pvm)
        db.session.commit()
        marker.touch()
    print("superset bootstrap: metadata migrated, bundle imported", flush=True)


if __name__ == "__main__":
    main(Path(sys.argv[1]))
