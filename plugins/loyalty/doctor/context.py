"""What the checks share: the options, the workflows read once, and what earlier checks found."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from loyalty.paths import WORKFLOWS_DIR
from loyalty.specs import WorkflowSpec

if TYPE_CHECKING:
    from loyalty.ledger import Sender


@dataclass
class Workflows:
    """The specs that load, and one error line per spec that does not."""

    specs: list[WorkflowSpec]
    errors: list[str]

    def channels(self) -> dict[str, list[str]]:
        """channel → the workflows that may send on it (one Airflow pool and, but reward, one connection each)."""
        found: dict[str, list[str]] = {}
        for spec in self.specs:
            for channel in spec.channels():
                found.setdefault(channel, []).append(spec.id)
        return found


@dataclass
class Deployment:
    """Handed to every check in order; a check may record what later ones need (the warehouse URL once it
    answered, the schemas found missing)."""

    require_bi: bool = False
    workflows_dir: Path = WORKFLOWS_DIR
    warehouse_url: str | None = None
    missing_schemas: list[str] = field(default_factory=list)
    _senders: dict[str, Sender | Exception | None] = field(default_factory=dict, repr=False)

    @cached_property
    def workflows(self) -> Workflows:
        from loyalty.specs import load_spec, spec_paths

        specs, errors = [], []
        for path in spec_paths(self.workflows_dir):
            try:
                specs.append(load_spec(path))
            except Exception as error:  # SpecError and anything a broken file raises: reported, not raised
                errors.append(f"{path.name}: {str(error).splitlines()[0]}")
        return Workflows(specs, errors)

    def sender(self, channel: str) -> Sender | None:
        """The channel's client as the send tasks build it (None: its connection is not defined), built once
        for every check that asks; a connection it cannot be built from raises, each time."""
        if channel not in self._senders:
            from loyalty.orchestration.connections import channel_sender_if_configured

            try:
                self._senders[channel] = channel_sender_if_configured(channel)
            except Exception as error:  # the connection's fields are unusable: the provider check says how
                self._senders[channel] = error
        found = self._senders[channel]
        if isinstance(found, Exception):
            raise found
        return found

    def close(self) -> None:
        """Close the clients the checks built."""
        for found in self._senders.values():
            if found is not None and not isinstance(found, Exception):
                found.close()
        self._senders.clear()


def first_line(error: BaseException) -> str:
    """An exception as one readable line (no stack trace, no multi-line driver noise)."""
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


HTTP_TIMEOUT_S = 5


def get_health(base: str, source: str) -> tuple[httpx.Response | None, str]:
    """GET `<base>/health` of a service the deployment points at: its 200 response, or None and why not (naming
    the URL and where it came from, for the check's message)."""
    try:
        response = httpx.get(f"{base}/health", timeout=HTTP_TIMEOUT_S)
    except httpx.HTTPError as error:
        return None, f"{base}/health does not answer (from {source}): {first_line(error)}"
    if response.status_code != 200:
        return None, f"{base}/health answered {response.status_code}, not 200 (from {source})"
    return response, ""
