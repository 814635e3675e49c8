"""The runtime the doors serve from, replaced whole when the configuration is reloaded.

A reload (SIGHUP to `pasarela serve`) reads the configuration again — re-resolving every
`${secret:…}`, so rotated credentials take effect — reconciles tool pins (so a tool approved
with `pasarela tools approve` is served again) and builds a new runtime beside the running
one. Only when it is complete do the doors switch to it; a configuration that fails to load
or build leaves the running one in place. Calls already in flight finish on the old runtime,
whose own parts (connectors, and stores whose settings changed) close after a grace period.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace

import anyio
import structlog

from pasarela.assembly import Runtime, build_runtime
from pasarela.config import LoadedConfig
from pasarela.errors import ConfigError, PasarelaError

log = structlog.get_logger("pasarela.reload")

MAX_DRAIN = 60.0  # seconds an old runtime is kept for calls still in flight
# Told (old, new) after each switch, e.g. to send MCP sessions list_changed.
SwitchListener = Callable[[Runtime, Runtime], Awaitable[None]]


class LiveRuntime:
    def __init__(self, runtime: Runtime) -> None:
        self.runtime = runtime
        self._retiring: list[Runtime] = []
        self._lock = anyio.Lock()
        self._delivering = False
        self.on_switch: list[SwitchListener] = []

    async def start_delivery(self) -> None:
        """Run the webhook delivery loop in this process, on this runtime and those replacing it."""
        self._delivering = True
        await self.runtime.webhooks.start()

    async def reload(self, load: Callable[[], LoadedConfig]) -> Runtime | None:
        """Build a runtime from `load()` and switch to it; returns the replaced runtime for
        `retire`, or None when the new configuration failed (the running one is kept)."""
        async with self._lock:  # one reload at a time
            old = self.runtime
            try:
                fresh = load()
                # One redactor for the life of the process: values from before a rotation stay masked.
                config = replace(fresh, redactor=old.config.redactor.absorb(fresh.redactor))
                new = await build_runtime(config, reuse=old)
            except ConfigError as exc:
                log.error(
                    "reload_failed", problems=[str(p) for p in exc.problems], kept="the running configuration"
                )
                return None
            except PasarelaError as exc:
                log.error("reload_failed", error=exc.detail, kept="the running configuration")
                return None
            self.runtime = new
            new.events.activate()  # its invalidate_on rules now apply to events as they arrive
            self._retiring.append(old)
            if self._delivering and new.webhooks is not old.webhooks:
                await old.webhooks.stop()  # one loop per process, with the endpoints now configured
                await new.webhooks.start()
        log.info(
            "reloaded", tools=len(new.gateway.catalog), quarantined=sorted(new.gateway.catalog.quarantined())
        )
        for listener in self.on_switch:
            try:
                await listener(old, new)
            except Exception:  # a listener's failure must not undo a reload that succeeded
                log.exception("reload_listener_failed")
        return old

    async def retire(self, old: Runtime, drain: float) -> None:
        """Close `old` once calls in flight on it have had `drain` seconds to finish."""
        try:
            await anyio.sleep(drain)
        finally:
            with anyio.CancelScope(shield=True):
                await self._close(old)

    async def _close(self, old: Runtime) -> None:
        if any(r is old for r in self._retiring):
            self._retiring = [r for r in self._retiring if r is not old]
            await old.aclose(keep=self.runtime)

    def drain_time(self, old: Runtime) -> float:
        backends = old.config.settings.backends.values()
        return min(MAX_DRAIN, max((b.timeout for b in backends), default=0.0) + 1.0)

    async def aclose(self) -> None:
        for old in list(self._retiring):
            await self._close(old)
        await self.runtime.aclose()
