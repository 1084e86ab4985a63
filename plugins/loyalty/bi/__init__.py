"""BI: Apache Superset in its own virtualenv, with the loyalty dashboards imported from superset/bundle."""

from loyalty.bi.superset import (
    DASHBOARDS,
    Superset,
    bundle_zip,
    install,
    running,
    start,
    stop,
    superset_uri,
)

__all__ = ["DASHBOARDS", "Superset", "bundle_zip", "install", "running", "start", "stop", "superset_uri"]
