"""Superset configuration for the loyalty dashboards: local demo and production alike, set by the environment.

Local (`loyalty dashboards`): SQLite metadata in LOYALTY_SUPERSET_HOME, a generated secret key, and a read-only
anonymous view (LOYALTY_SUPERSET_PUBLIC=1: Superset's built-in Public role, plus access to the warehouse database
only). Production (the `bi` service of docker-compose.yml): Postgres metadata (SUPERSET_METADATA_URL), Redis cache,
a secret key from the environment, logins required (LOYALTY_SUPERSET_PUBLIC unset).
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

HOME = Path(os.environ.get("LOYALTY_SUPERSET_HOME", Path.home() / ".superset"))
HOME.mkdir(parents=True, exist_ok=True)


def _secret_key() -> str:
    """SUPERSET_SECRET_KEY, else one generated once per home (local use only)."""
    if os.environ.get("SUPERSET_SECRET_KEY"):
        return os.environ["SUPERSET_SECRET_KEY"]
    path = HOME / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(42))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
SQLALCHEMY_DATABASE_URI = (
    os.environ.get("SUPERSET_METADATA_URL") or f"sqlite:///{HOME / 'superset.db'}?check_same_thread=false"
)
DATA_DIR = str(HOME)

PUBLIC = os.environ.get("LOYALTY_SUPERSET_PUBLIC", "") in {"1", "true", "yes"}
# The built-in Public role: read-only dashboard and chart viewing for anonymous visitors (no SQL Lab, no writes).
# loyalty's bootstrap adds the one grant it lacks: access to the warehouse database.
AUTH_ROLE_PUBLIC = "Public"
PUBLIC_ROLE_LIKE = "Public" if PUBLIC else None

FEATURE_FLAGS = {"DASHBOARD_RBAC": False, "ENABLE_TEMPLATE_PROCESSING": False}
SESSION_COOKIE_SECURE = os.environ.get("LOYALTY_SUPERSET_SECURE_COOKIES", "") in {"1", "true", "yes"}
# A Content-Security-Policy of this server only: the dashboards need no map tiles or web fonts, and the browser
# never loads Superset's telemetry pixel (scarf.sh, allowed by the default policy) — nothing leaves the network.
TALISMAN_ENABLED = True
TALISMAN_CONFIG = {
    "content_security_policy": {
        "base-uri": ["'self'"],
        "default-src": ["'self'"],
        "img-src": ["'self'", "blob:", "data:"],
        "worker-src": ["'self'", "blob:"],
        "connect-src": ["'self'"],
        "object-src": "'none'",
        "style-src": ["'self'", "'unsafe-inline'"],
        "font-src": ["'self'", "data:"],
        "script-src": ["'self'", "'strict-dynamic'"],
    },
    "content_security_policy_nonce_in": ["script-src"],
    "force_https": False,  # TLS ends at the proxy in front (production) or there is none (local demo)
    "session_cookie_secure": SESSION_COOKIE_SECURE,
}

_redis = os.environ.get("SUPERSET_REDIS_URL")
if _redis:
    CACHE_CONFIG = {"CACHE_TYPE": "RedisCache", "CACHE_DEFAULT_TIMEOUT": 300, "CACHE_REDIS_URL": _redis}
    DATA_CACHE_CONFIG = {**CACHE_CONFIG, "CACHE_KEY_PREFIX": "loyalty_data_"}
    FILTER_STATE_CACHE_CONFIG = {**CACHE_CONFIG, "CACHE_KEY_PREFIX": "loyalty_filter_"}
    EXPLORE_FORM_DATA_CACHE_CONFIG = {**CACHE_CONFIG, "CACHE_KEY_PREFIX": "loyalty_explore_"}
else:
    # One local process: the simple in-memory cache keeps filter state and explore links working.
    _simple = {"CACHE_TYPE": "SimpleCache", "CACHE_DEFAULT_TIMEOUT": 300}
    FILTER_STATE_CACHE_CONFIG = {**_simple, "CACHE_KEY_PREFIX": "loyalty_filter_"}
    EXPLORE_FORM_DATA_CACHE_CONFIG = {**_simple, "CACHE_KEY_PREFIX": "loyalty_explore_"}
