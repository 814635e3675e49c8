"""Telling one follower (an MCP session or a listen stream) which resources changed, at its own
pace: each follower has its own set of URIs to tell and its own task, so an agent that stalls
delays no one else's notifications. A URI told twice before the follower took the first is told
once (a notification says "read it again", not what changed). A follower that does not take one
within `SEND_TIMEOUT` — gone, or not reading — is given up on."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import anyio
import structlog

from pasarela.identity.principal import Principal
from pasarela.server.mcp_event_resources import SENT_ERRORS

log = structlog.get_logger("pasarela.mcp")

Send = Callable[[str], Awaitable[object]]  # sends `notifications/resources/updated` for a URI
SEND_TIMEOUT = 5.0  # seconds one follower may take to take a notification


@dataclass(eq=False, slots=True)
class Follower:
    principal: Principal
    send: Send
    uris: set[str] = field(default_factory=set)  # what it follows
    pending: set[str] = field(default_factory=set)  # what it is to be told
    wake: anyio.Event = field(default_factory=anyio.Event)
    scope: anyio.CancelScope = field(default_factory=anyio.CancelScope)

    def tell(self, uri: str) -> None:
        self.pending.add(uri)
        self.wake.set()

    async def feed(self) -> bool:
        """Tell what is pending, as it comes, until cancelled (True) or the follower stops taking
        notifications (False: give it up)."""
        with self.scope:
            while True:
                await self.wake.wait()
                self.wake = anyio.Event()
                batch, self.pending = self.pending, set()
                for uri in sorted(batch):
                    if not await self._send(uri):
                        return False
        return True

    async def _send(self, uri: str) -> bool:
        try:
            with anyio.fail_after(SEND_TIMEOUT):
                await self.send(uri)
        except (*SENT_ERRORS, TimeoutError) as exc:
            log.info("mcp_resource_follower_dropped", principal=self.principal.id, error=type(exc).__name__)
            return False
        except Exception:  # one notification's failure is logged; the follower goes on
            log.exception("mcp_resource_follower_failed", principal=self.principal.id)
        return True
