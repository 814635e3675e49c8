"""An agent's health for /readyz: does it still serve its card, and is it the card approved?

A2A has no health service; the card is what every client fetches first, so an agent that serves
it is up. A card that differs from the one loaded is reported (`detail`) — a reload would
quarantine the tool until an operator reviews it. The answer is kept for a second, so probes
cannot flood the agent.
"""

from __future__ import annotations

import anyio
import httpx

from pasarela.config.a2a import A2aHealthSettings
from pasarela.connectors.a2a.card import CardProblem, CardSource, card_digest, fetch_card, parse_card
from pasarela.connectors.base import BackendHealth
from pasarela.connectors.probe import ThrottledProbe
from pasarela.secrets import Redactor

CHANGED = "the agent card changed since it was loaded: reload to review it (pasarela tools diff)"


class CardProbe(ThrottledProbe):
    def __init__(
        self,
        source: CardSource,
        http: httpx.AsyncClient,
        settings: A2aHealthSettings,
        loaded: bytes,
        redactor: Redactor,
    ) -> None:
        self.source = source
        self.http = http
        self.settings = settings
        self.loaded = loaded
        self.redactor = redactor
        super().__init__()

    async def _ask(self) -> BackendHealth:
        required = self.settings.required
        try:
            with anyio.fail_after(self.settings.timeout):
                card = parse_card(
                    await fetch_card(self.source, self.http, self.settings.timeout), self.redactor
                )
        except TimeoutError:
            return BackendHealth("timeout", required)
        except CardProblem as exc:
            return BackendHealth(exc.status, required, str(exc))
        return BackendHealth("serving", required, None if card_digest(card) == self.loaded else CHANGED)
