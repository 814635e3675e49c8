"""The configured endpoints as the delivery machinery uses them: which receive a principal's
event, and the check that each names a principal the gateway knows."""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from dataclasses import dataclass

from pasarela.config.loader import LoadedConfig
from pasarela.config.webhooks import WebhookEndpointSettings, secret_key
from pasarela.errors import ConfigProblem


@dataclass(frozen=True, slots=True)
class Endpoint:
    name: str
    principal: str
    url: str
    key: bytes  # the HMAC key the secret decodes to
    events: tuple[str, ...]
    timeout: float

    def wants(self, event_type: str) -> bool:
        return any(fnmatch.fnmatchcase(event_type, pattern) for pattern in self.events)

    def __repr__(self) -> str:  # never the key
        return f"Endpoint({self.name!r}, principal={self.principal!r}, url={self.url!r})"


def endpoints(configured: Mapping[str, WebhookEndpointSettings]) -> dict[str, Endpoint]:
    return {
        name: Endpoint(
            name,
            item.principal,
            item.url,
            secret_key(item.secret.get_secret_value()),
            tuple(item.events),
            item.timeout,
        )
        for name, item in configured.items()
    }


def check_principals(config: LoadedConfig) -> list[ConfigProblem]:
    """Each endpoint belongs to a principal of `identity.api_keys`. With `identity.jwt`,
    principals come from tokens and cannot be listed: any name is accepted then."""
    settings = config.settings
    if settings.identity.jwt is not None:
        return []
    known = {entry.principal for entry in settings.identity.api_keys}
    return [
        ConfigProblem(
            config.source,
            f"webhooks.endpoints.{name}.principal",
            f"no principal named {item.principal!r} in identity.api_keys"
            + (f" (known: {', '.join(sorted(known))})" if known else ""),
        )
        for name, item in settings.webhooks.endpoints.items()
        if item.principal not in known
    ]
