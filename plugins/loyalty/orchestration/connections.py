"""Read the project's Airflow connections, falling back to the project's own defaults."""

from __future__ import annotations

from dataclasses import dataclass

WAREHOUSE_CONN_ID = "loyalty_warehouse"
SENDGRID_CONN_ID = "loyalty_sendgrid"


def _connection(conn_id: str):
    from airflow.sdk import BaseHook

    try:
        return BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException and friends: the connection is simply not defined
        return None


def warehouse_url() -> str:
    """The warehouse URL from the `loyalty_warehouse` connection, else the project's resolution."""
    from loyalty.warehouse import resolve_url, url_from_connection_fields

    conn = _connection(WAREHOUSE_CONN_ID)
    if conn is None or not conn.host:
        return resolve_url()
    return url_from_connection_fields(conn.host, conn.port, conn.login, conn.password, conn.schema)


@dataclass(frozen=True)
class SendGridSettings:
    api_key: str
    host: str | None
    from_email: str


def sendgrid_settings() -> SendGridSettings:
    """API key in the password, host overridable (the emulator), sender in extra.from_email."""
    conn = _connection(SENDGRID_CONN_ID)
    if conn is None:
        raise RuntimeError(
            f"Airflow connection {SENDGRID_CONN_ID!r} is not defined: set AIRFLOW_CONN_LOYALTY_SENDGRID "
            "(the demo points it at the local provider emulator)"
        )
    extra = conn.extra_dejson or {}
    return SendGridSettings(
        api_key=conn.password or "",
        host=conn.host or None,
        from_email=extra.get("from_email", "loyalty@example.com"),
    )


def email_sender():
    """The real SendGrid client configured from the `loyalty_sendgrid` connection."""
    from loyalty.channels.sendgrid_email import SendGridEmail

    settings = sendgrid_settings()
    return SendGridEmail(settings.api_key, settings.from_email, host=settings.host)
