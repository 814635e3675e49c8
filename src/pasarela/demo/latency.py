"""`PASARELA_DEMO_LATENCY`: make the demo's systems answer as slowly as real ones across a network.

`20ms` delays every system's answers by 20 ms; `credit_bureau=5s,crm=20ms` names systems (a bare
value among them is the default for the rest). Descriptions (OpenAPI, WSDL, XSD) and the health
probe are served at once, so the demo starts as fast as ever. Used by `bench/overview.py` and by the tests that
need a slow system.
"""

from __future__ import annotations

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from pasarela.config.durations import parse_duration

PROMPT = (".json", ".yaml", ".wsdl", ".xsd", "/healthz")  # descriptions and the start-up probe


def latency_for(system: str, setting: str | None) -> float:
    """The seconds `system` waits before answering (0 when the setting does not name it)."""
    if not setting:
        return 0.0
    default = 0.0
    for part in setting.split(","):
        name, equals, value = part.strip().partition("=")
        try:
            if not equals:
                default = parse_duration(name)
            elif name.strip() == system:
                return parse_duration(value.strip())
        except ValueError as exc:
            raise SystemExit(f"PASARELA_DEMO_LATENCY: {part.strip()!r}: {exc}") from None
    return default


def check_latency(setting: str | None, systems: list[str]) -> None:
    """Refuse a setting that does not parse or names no demo system, before anything starts."""
    for part in (setting or "").split(","):
        name, equals, _ = part.strip().partition("=")
        if equals and name.strip() not in systems:
            raise SystemExit(
                f"PASARELA_DEMO_LATENCY: {name.strip()!r} is not a demo system (one of {', '.join(systems)})"
            )
    for system in systems:
        latency_for(system, setting)


class Latency:
    """Wait `seconds` before handing each request (descriptions and health aside) to the app."""

    def __init__(self, app: ASGIApp, seconds: float) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not str(scope.get("path", "")).endswith(PROMPT):
            await anyio.sleep(self.seconds)
        await self.app(scope, receive, send)
