"""One pooled aiohttp session per HTTP backend, with the gateway's safe defaults."""

from __future__ import annotations

import aiohttp

from pasarela import __version__
from pasarela.config.model import BackendSettings


def make_session(settings: BackendSettings) -> aiohttp.ClientSession:
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
