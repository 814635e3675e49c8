"""One pooled aiohttp session per HTTP backend, with the gateway's safe defaults."""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import aiohttp

from pasarela import __version__
from pasarela.config.backends import HttpBackend
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.http_auth import BackendAuth, StaticAuth, build_auth
from pasarela.secrets import Redactor


def make_session(settings: HttpBackend) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(
            limit=settings.max_connections, limit_per_host=settings.max_connections, ttl_dns_cache=300
        ),
        timeout=aiohttp.ClientTimeout(total=settings.timeout, connect=settings.connect_timeout),
        headers={"User-Agent": f"pasarela/{__version__}", **settings.headers},
        # A cookie set by a backend must never ride along on another principal's call.
        cookie_jar=aiohttp.DummyCookieJar(),
        # No proxies or ~/.netrc credentials picked up from the environment behind the operator's back.
        trust_env=False,
    )


H = TypeVar("H", bound=HttpBackend)


class HttpBackendConnector(BackendConnector[H]):
    """A connector that speaks HTTP: one pooled session and the backend's credential."""

    def __init__(self, backend: str, settings: H, *, base_dir: Path, redactor: Redactor, source: str) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self._session: aiohttp.ClientSession | None = None
        self._auth: BackendAuth = StaticAuth()

    def _open_http(self) -> None:
        """Create the session and credential once (a second load keeps them)."""
        if self._session is None:
            self._session = make_session(self.settings)
            self._auth = build_auth(
                self.settings.auth, self.backend, self._session_or_fail, self.settings.timeout
            )

    def _session_or_fail(self) -> aiohttp.ClientSession:
        assert self._session is not None, "load() must run before invoke()"
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
