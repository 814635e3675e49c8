"""The agent card: where it is, reading it, and what of it is pinned.

A card comes from the agent itself (`/.well-known/agent-card.json` under its URL, or the card's
own URL) or from a file. The SDK parses it (A2A 1.0, or 0.3 converted), so a card pins the same
whichever version of the protocol wrote it. What is pinned is everything that changes what the
gateway sends where, with which credential, or what an agent is told: the interfaces (URLs),
the security schemes and requirements, the capabilities, the skills and the descriptions.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import orjson
from google.protobuf.json_format import MessageToDict, ParseError

from a2a.client.card_resolver import parse_agent_card
from a2a.types import AgentCard
from a2a.utils.constants import AGENT_CARD_WELL_KNOWN_PATH, TransportProtocol
from pasarela.secrets import Redactor

# The bindings spoken over the gateway's own HTTP client (the gRPC binding is not offered).
BINDINGS = (TransportProtocol.JSONRPC.value, TransportProtocol.HTTP_JSON.value)
# Cosmetic, or different at every signing: a change to these is no reason to review the tool.
NOT_PINNED = frozenset({"signatures", "iconUrl", "documentationUrl"})
MAX_CARD_BYTES = 1024 * 1024


class CardProblem(Exception):
    """The card cannot be had or used; the message says why (no secret in it). `status` is what
    /readyz reports: `unavailable`, `timeout` or `invalid_card`."""

    def __init__(self, message: str, status: str = "invalid_card") -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class CardSource:
    """Where the card is: a URL (`url`) or a file (`path`)."""

    url: str | None = None
    path: Path | None = None

    @classmethod
    def of(cls, value: str, base_dir: Path) -> CardSource:
        if value.startswith(("http://", "https://")):
            parts = urlsplit(value)
            if not parts.path.endswith(".json"):  # the agent's URL: its card is at the well-known path
                card_path = parts.path.rstrip("/") + AGENT_CARD_WELL_KNOWN_PATH
                value = urlunsplit((parts.scheme, parts.netloc, card_path, parts.query, ""))
            return cls(url=value)
        file = Path(value).expanduser()
        return cls(path=file if file.is_absolute() else base_dir / file)

    @property
    def over_tls(self) -> bool:
        """Fetched over https (a file's interfaces are the operator's own choice)."""
        return self.url is not None and self.url.startswith("https://")

    def __str__(self) -> str:
        return self.url if self.url is not None else str(self.path)


async def fetch_card(source: CardSource, http: httpx.AsyncClient, timeout: float) -> dict[str, Any]:
    """The card's JSON, from its URL (with the gateway's credential and headers) or its file."""
    if source.path is not None:
        try:
            return _json_object(source.path.read_bytes())
        except OSError as exc:
            raise CardProblem(
                f"cannot read the agent card {source.path}: {exc.strerror}", "unavailable"
            ) from None
    assert source.url is not None
    try:
        response = await http.get(source.url, timeout=timeout)
    except httpx.TimeoutException:
        raise CardProblem(
            f"the agent card at {source.url} did not come within {timeout:g}s", "timeout"
        ) from None
    except httpx.HTTPError as exc:
        raise CardProblem(
            f"cannot fetch the agent card at {source.url}: {type(exc).__name__}", "unavailable"
        ) from None
    if response.status_code != 200:
        raise CardProblem(
            f"the agent card at {source.url} answered HTTP {response.status_code}", "unavailable"
        )
    return _json_object(response.content)


def _json_object(content: bytes) -> dict[str, Any]:
    if len(content) > MAX_CARD_BYTES:
        raise CardProblem(f"the agent card is larger than {MAX_CARD_BYTES} bytes")
    try:
        data = orjson.loads(content)
    except orjson.JSONDecodeError as exc:
        raise CardProblem(f"the agent card is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise CardProblem("the agent card is not a JSON object")
    return data


def parse_card(data: dict[str, Any], redactor: Redactor) -> AgentCard:
    try:
        card = parse_agent_card(data)
    except ParseError as exc:
        raise CardProblem(f"not an agent card: {redactor.excerpt(str(exc), 300)}") from None
    if not card.name:
        raise CardProblem("the agent card has no name")
    if not card.supported_interfaces:
        raise CardProblem("the agent card names no interface (supportedInterfaces, or url in A2A 0.3)")
    return card


def card_form(card: AgentCard) -> dict[str, Any]:
    """The card as JSON (A2A 1.0 names), less what is not pinned."""
    form = MessageToDict(card)
    return {key: value for key, value in form.items() if key not in NOT_PINNED}


def card_digest(card: AgentCard) -> bytes:
    return orjson.dumps(card_form(card), option=orjson.OPT_SORT_KEYS)


def reachable(card: AgentCard, source: CardSource, base_url: str | None) -> AgentCard:
    """The card the client is made from: only interfaces the gateway speaks, each at `base_url`'s
    scheme, host and port (paths kept) when one is given.

    A card fetched over TLS may not send the gateway's credential in the clear: an `http://`
    interface is refused unless the operator chose where the agent is (`base_url`).
    """
    chosen = AgentCard()
    chosen.CopyFrom(card)
    del chosen.supported_interfaces[:]
    offered = [i.protocol_binding for i in card.supported_interfaces]
    for interface in card.supported_interfaces:
        if interface.protocol_binding not in BINDINGS:
            continue
        url = interface.url
        if not url.startswith(("http://", "https://")):
            raise CardProblem(f"the agent card's interface URL is not http(s): {url!r}")
        if base_url is not None:
            url = _rebased(url, base_url)
        elif source.over_tls and url.startswith("http://"):
            raise CardProblem(
                f"the agent card came over https but names a plain http interface ({url}); "
                "set base_url if that is really where the agent is"
            )
        added = chosen.supported_interfaces.add()
        added.CopyFrom(interface)
        added.url = url
    if not chosen.supported_interfaces:
        raise CardProblem(
            f"the agent offers no JSON-RPC or HTTP+JSON interface (it offers: {', '.join(offered) or 'none'})"
        )
    return chosen


def _rebased(url: str, base_url: str) -> str:
    base, parts = urlsplit(base_url), urlsplit(url)
    path = base.path.rstrip("/") + parts.path if base.path not in ("", "/") else parts.path
    return urlunsplit((base.scheme, base.netloc, path, parts.query, ""))
