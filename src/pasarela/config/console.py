"""`console:` — the operator console at /admin (docs/console.md)."""

from __future__ import annotations

from pydantic import Field, SecretStr

from pasarela.config.base import Strict
from pasarela.config.durations import Duration


class ConsoleSettings(Strict):
    enabled: bool = Field(True, description="Serve the operator console at /admin")
    admin_role: str = Field(
        "admin",
        min_length=1,
        description="Principals with this role may use the console; everyone else gets 403",
    )
    session_ttl: Duration = Field(
        8 * 3600.0, gt=0, le=7 * 86400, description="A console login lasts this long (default 8h)"
    )
    session_key: SecretStr | None = Field(
        None,
        description="Signs console session cookies (use ${secret:…}; at least 32 characters). Absent: a "
        "random key per process, so logins end at a restart and each worker of `serve --workers N` "
        "has its own — set it when running more than one",
        min_length=32,
    )
