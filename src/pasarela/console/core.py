"""What every console page is handed: the console's parts, and the visit (who, with which session)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import Any

import jinja2
from starlette.requests import Request

from pasarela.assembly import Runtime
from pasarela.audit.reader import Verdict
from pasarela.config import LoadedConfig
from pasarela.config.console import ConsoleSettings
from pasarela.console.session import Session, SessionCodec
from pasarela.console.throttle import LoginThrottle
from pasarela.console.trail import ConsoleTrail
from pasarela.identity import Principal
from pasarela.secrets import Redactor
from pasarela.server.live import LiveRuntime
from pasarela.server.middleware import request_id_of


@dataclass(frozen=True, slots=True)
class Verification:
    """The last `audit verify` run from the console (it reads the whole chain: not on every visit)."""

    verdict: Verdict
    at: float
    by: str


@dataclass
class Console:
    live: LiveRuntime
    redactor: Redactor
    codec: SessionCodec
    templates: jinja2.Environment
    trail: ConsoleTrail
    # Reads the configuration again (as SIGHUP does): an approved tool is served at once.
    reload: Callable[[], LoadedConfig] | None = None
    verification: Verification | None = None
    login_throttle: LoginThrottle = field(default_factory=LoginThrottle)
    _background: set[asyncio.Task[None]] = field(default_factory=set)

    @property
    def runtime(self) -> Runtime:
        return self.live.runtime

    @property
    def settings(self) -> ConsoleSettings:
        return self.live.runtime.config.settings.console

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` beyond the request (retiring a replaced runtime after its drain time)."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


@dataclass(frozen=True, slots=True)
class Visit:
    """One request by an admin: by bearer credential (`session` None) or by session cookie."""

    console: Console
    request: Request
    principal: Principal
    session: Session | None

    @property
    def runtime(self) -> Runtime:
        return self.console.runtime

    @property
    def request_id(self) -> str:
        return request_id_of(self.request.scope)

    @property
    def csrf(self) -> str:
        """The token every state-changing form carries (empty for bearer callers: no cookie, no CSRF)."""
        return self.console.codec.csrf_token(self.session) if self.session is not None else ""
