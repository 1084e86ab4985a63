"""RFC 8058 one-click unsubscribe: signed tokens and the headers an email carries.

A token names one send (``loyalty.send_ledger.send_id``) and proves we issued it:
``v1.<base64url(send_id)>.<base64url(HMAC-SHA256(secret, "v1." + send_id))[:22]>`` (128-bit MAC).
It never expires: an unsubscribe link must keep working. The email channel calls
``list_unsubscribe_headers`` with the receiver's public URL and the secret from its Airflow
connection; the receiver (``POST /unsubscribe/{token}``, body ``List-Unsubscribe=One-Click``)
verifies the token with the same secret (``LOYALTY_UNSUBSCRIBE_SECRET``).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass

__all__ = [
    "ONE_CLICK_BODY",
    "UNSUBSCRIBE_URL_PLACEHOLDER",
    "InvalidToken",
    "UnsubscribeLinks",
    "list_unsubscribe_headers",
    "make_token",
    "read_token",
    "unsubscribe_url",
]

VERSION = "v1"
# What `{{ unsubscribe_url }}` renders to in an email body; the email channel puts each message's signed URL
# in its place (a template is rendered before its send id is known to the renderer; nothing here escapes).
UNSUBSCRIBE_URL_PLACEHOLDER = "https://unsubscribe.invalid/loyalty-send-id"
ONE_CLICK_BODY = "List-Unsubscribe=One-Click"
_MAC_CHARS = 22  # 16 bytes of the MAC, base64url without padding
_MAX_TOKEN_CHARS = 512


class InvalidToken(ValueError):
    """The token is malformed or was not signed with our secret."""


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: str, send_id: str) -> str:
    if not secret:
        raise ValueError("the unsubscribe secret is empty")
    digest = hmac.new(secret.encode("utf-8"), f"{VERSION}.{send_id}".encode(), hashlib.sha256).digest()
    return _b64(digest)[:_MAC_CHARS]


def make_token(send_id: str, secret: str) -> str:
    """The URL-safe token for one send."""
    if not send_id:
        raise ValueError("send_id is empty")
    return f"{VERSION}.{_b64(send_id.encode('utf-8'))}.{_mac(secret, send_id)}"


def read_token(token: str, secret: str) -> str:
    """The send id a token names; InvalidToken unless we signed it."""
    if len(token) > _MAX_TOKEN_CHARS:
        raise InvalidToken("token too long")
    version, _, rest = token.partition(".")
    encoded, _, mac = rest.partition(".")
    if version != VERSION or not encoded or not mac:
        raise InvalidToken(f"not a {VERSION} unsubscribe token")
    try:
        send_id = _unb64(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise InvalidToken("token does not encode a send id") from None
    if not send_id or not hmac.compare_digest(mac.encode("ascii", "replace"), _mac(secret, send_id).encode("ascii")):
        raise InvalidToken("token signature does not match")
    return send_id


def unsubscribe_url(base_url: str, send_id: str, secret: str) -> str:
    """``<base_url>/unsubscribe/<token>``; ``base_url`` is the receiver as the internet sees it."""
    return f"{base_url.rstrip('/')}/unsubscribe/{make_token(send_id, secret)}"


def list_unsubscribe_headers(base_url: str, send_id: str, secret: str, mailto: str | None = None) -> dict[str, str]:
    """The RFC 2369 + RFC 8058 headers for one email (one-click needs an HTTPS URL in production).

    ``mailto``: an optional address for clients that only do mail-based unsubscribe.
    """
    targets = [f"<{unsubscribe_url(base_url, send_id, secret)}>"]
    if mailto:
        targets.append(f"<mailto:{mailto}?subject=unsubscribe>")
    return {"List-Unsubscribe": ", ".join(targets), "List-Unsubscribe-Post": ONE_CLICK_BODY}


@dataclass(frozen=True)
class UnsubscribeLinks:
    """Where a marketing email's recipient unsubscribes: the receiver's public URL (HTTPS in production), the
    secret that signs the tokens, and a mailbox for clients that only unsubscribe by mail."""

    base_url: str
    secret: str
    mailto: str

    def url(self, send_id: str) -> str:
        return unsubscribe_url(self.base_url, send_id, self.secret)

    def headers(self, send_id: str) -> dict[str, str]:
        return list_unsubscribe_headers(self.base_url, send_id, self.secret, self.mailto)
