"""URLs fit to print: what a message, a log line or a report may show of a connection URL."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redacted(url: str) -> str:
    """The URL with its password replaced by *** (the socket form `postgresql://u:pw@/db?host=/dir` included)."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))
