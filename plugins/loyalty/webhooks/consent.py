"""What an inbound SMS or a provider event means for contactability.

Keywords are matched the way carriers and Twilio do: the whole message, case-insensitive,
surrounding spaces and trailing punctuation ignored, and accents folded ("Descadastrar", "SAÍR").
English (Twilio's and the US carriers' list) and Portuguese (Brazil's usual words) both count,
whatever the sender's locale: a customer who writes PARAR to an English message has opted out.
Twilio itself blocks only its English words (its 21610); ours are applied by the receiver at once,
so the next plan leaves the number out. HELP/INFO/AJUDA ask for information and change nothing
(they are stored as inbound events).
"""

from __future__ import annotations

import unicodedata

OPT_OUT_KEYWORDS = frozenset(
    {"STOP", "STOPALL", "UNSUBSCRIBE", "CANCEL", "END", "QUIT"}  # Twilio's and the CTIA's
    | {"PARAR", "SAIR", "CANCELAR", "DESCADASTRAR", "DESCADASTRE", "REMOVER"}
)
OPT_IN_KEYWORDS = frozenset({"START", "YES", "UNSTOP"} | {"INICIAR", "VOLTAR", "SIM"})
HELP_KEYWORDS = frozenset({"HELP", "INFO"} | {"AJUDA", "INFORMACAO", "INFORMACOES"})
# Twilio error codes on undelivered/failed callbacks that will not heal by retrying.
PERMANENT_SMS_ERRORS = {
    "21610": "sms_opted_out",  # the recipient replied STOP to us at Twilio
    "30005": "sms_unknown_destination",
    "30006": "sms_landline_or_unreachable_carrier",
}


def keyword(body: str) -> str:
    """The normalised keyword of a message body (accents dropped: 'Sáir' → 'SAIR')."""
    text = unicodedata.normalize("NFKD", body.strip().strip(".!¡?¿ ").strip())
    return "".join(c for c in text if not unicodedata.combining(c)).upper()


def sms_keyword_change(body: str) -> tuple[bool, str] | None:
    """(is_contactable, reason) for an opt-out/opt-in keyword, else None."""
    word = keyword(body)
    if word in OPT_OUT_KEYWORDS:
        return False, f"sms_keyword_{word.lower()}"
    if word in OPT_IN_KEYWORDS:
        return True, f"sms_keyword_{word.lower()}"
    return None
