"""Credentials the gateway adds to upstream HTTP requests (never the caller's own)."""

from __future__ import annotations

import base64
import time
from collections.abc import Callable
from typing import Protocol

import aiohttp
import anyio

from pasarela.config.backends import BackendAuthSettings, OAuth2ClientCredentials
from pasarela.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

# Refresh a token this long before it expires, so no request carries an expiring one.
EXPIRY_MARGIN = 30.0

Query = list[tuple[str, str]]


class BackendAuth(Protocol):
    async def apply(self, headers: dict[str, str], query: Query) -> None:
        """Add the credential to an outgoing request."""
        ...

    async def refresh(self, rejected_headers: dict[str, str]) -> bool:
        """The backend answered 401 to `rejected_headers`: True if a retry may now succeed."""
        ...


def basic_header(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


class StaticAuth:
    """Bearer, basic or API key: headers and query parameters fixed at start-up."""

    def __init__(self, headers: dict[str, str] | None = None, query: Query | None = None) -> None:
        self._headers = headers or {}
        self._query = query or []

    async def apply(self, headers: dict[str, str], query: Query) -> None:
        headers.update(self._headers)
        query.extend(self._query)

    async def refresh(self, rejected_headers: dict[str, str]) -> bool:
        return False


class OAuth2ClientCredentialsAuth:
    """RFC 6749 §4.4. The token is cached until shortly before it expires and fetched by one
    request at a time; a 401 from the backend discards it once, so the call is retried with
    a fresh token."""

    def __init__(
        self,
        settings: OAuth2ClientCredentials,
        backend: str,
        session: Callable[[], aiohttp.ClientSession],
        timeout: float,
    ) -> None:
        self.settings = settings
        self.backend = backend
        self._session = session
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = anyio.Lock()
        self.fetches = 0

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.settings.scopes:
            form["scope"] = " ".join(self.settings.scopes)
        if self.settings.audience:
            form["audience"] = self.settings.audience
        credentials = basic_header(self.settings.client_id, self.settings.client_secret.get_secret_value())
        try:
            async with self._session().post(
                self.settings.token_url,
                data=form,
                headers={"Authorization": credentials},
                allow_redirects=False,
                timeout=aiohttp.ClientTimeout(total=self._timeout),
            ) as response:
                status = response.status
                body = await response.json(content_type=None) if status == 200 else None
        except TimeoutError as exc:
            raise UpstreamTimeout("the token endpoint did not answer in time", backend=self.backend) from exc
        except (aiohttp.ClientError, ValueError) as exc:
            raise UpstreamUnavailable(
                "cannot get a token from the token endpoint", backend=self.backend
            ) from exc
        if status != 200:
            raise UpstreamError(
                f"the token endpoint refused the client credentials (HTTP {status})",
                backend=self.backend,
                upstream_status=status,
            )
        try:
            token = str(body["access_token"])  # type: ignore[index]
            lifetime = float(body.get("expires_in", 300))  # type: ignore[union-attr]
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise UpstreamError(
                "the token endpoint's answer has no access_token", backend=self.backend
            ) from exc
        self._token = token
        self._expires_at = time.monotonic() + max(lifetime - EXPIRY_MARGIN, 1.0)
        self.fetches += 1

    async def _current(self) -> str:
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def apply(self, headers: dict[str, str], query: Query) -> None:
        headers["Authorization"] = f"Bearer {await self._current()}"

    async def refresh(self, rejected_headers: dict[str, str]) -> bool:
        async with self._lock:
            # Another call may already have replaced the rejected token.
            if rejected_headers.get("Authorization") == f"Bearer {self._token}":
                await self._fetch()
        return True


def static_headers(settings: BackendAuthSettings | None) -> dict[str, str] | None:
    """Bearer, basic or header API key as fixed headers (for clients we do not drive request
    by request, such as zeep and the MCP SDK); None for a scheme that cannot be a fixed header."""
    if settings is None:
        return {}
    if settings.bearer is not None:
        return {"Authorization": f"Bearer {settings.bearer.get_secret_value()}"}
    if settings.basic is not None:
        return {
            "Authorization": basic_header(settings.basic.username, settings.basic.password.get_secret_value())
        }
    if settings.api_key is not None and settings.api_key.header is not None:
        return {settings.api_key.header: settings.api_key.value.get_secret_value()}
    return None


def build_auth(
    settings: BackendAuthSettings | None,
    backend: str,
    session: Callable[[], aiohttp.ClientSession],
    timeout: float,
) -> BackendAuth:
    headers = static_headers(settings)
    if headers is not None:
        return StaticAuth(headers)
    assert settings is not None
    if settings.api_key is not None:
        assert settings.api_key.query is not None
        return StaticAuth(query=[(settings.api_key.query, settings.api_key.value.get_secret_value())])
    assert settings.oauth2_client_credentials is not None
    return OAuth2ClientCredentialsAuth(settings.oauth2_client_credentials, backend, session, timeout)
