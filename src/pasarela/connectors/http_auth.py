"""Credentials the gateway adds to upstream HTTP requests (never the caller's own)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Generator

import anyio
import httpx

from pasarela.config.model import BackendAuthSettings, OAuth2ClientCredentials
from pasarela.errors import UpstreamError, UpstreamTimeout, UpstreamUnavailable

# Refresh a token this long before it expires, so no request carries an expiring one.
EXPIRY_MARGIN = 30.0


class BearerAuth(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._value = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        request.headers["Authorization"] = self._value
        yield request


class ApiKeyAuth(httpx.Auth):
    def __init__(self, value: str, *, header: str | None = None, query: str | None = None) -> None:
        self.value, self.header, self.query = value, header, query

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.header is not None:
            request.headers[self.header] = self.value
        elif self.query is not None:
            request.url = request.url.copy_merge_params({self.query: self.value})
        yield request


class OAuth2ClientCredentialsAuth(httpx.Auth):
    """RFC 6749 §4.4. The token is cached until shortly before it expires and fetched by one
    request at a time; a 401 from the backend discards it and retries once with a fresh one."""

    requires_response_body = False

    def __init__(self, settings: OAuth2ClientCredentials, backend: str, timeout: float) -> None:
        self.settings = settings
        self.backend = backend
        self._timeout = timeout
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = anyio.Lock()
        self.fetches = 0  # observable in tests and metrics

    async def _fetch(self) -> None:
        form = {"grant_type": "client_credentials"}
        if self.settings.scopes:
            form["scope"] = " ".join(self.settings.scopes)
        if self.settings.audience:
            form["audience"] = self.settings.audience
        secret = self.settings.client_secret.get_secret_value()
        try:
            async with httpx.AsyncClient(timeout=self._timeout) as client:
                response = await client.post(
                    self.settings.token_url, data=form, auth=(self.settings.client_id, secret)
                )
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout("the token endpoint did not answer in time", backend=self.backend) from exc
        except httpx.TransportError as exc:
            raise UpstreamUnavailable("cannot reach the token endpoint", backend=self.backend) from exc
        if response.status_code != 200:
            raise UpstreamError(
                f"the token endpoint refused the client credentials (HTTP {response.status_code})",
                backend=self.backend,
                upstream_status=response.status_code,
            )
        try:
            body = response.json()
            token = body["access_token"]
            lifetime = float(body.get("expires_in", 300))
        except (ValueError, KeyError, TypeError) as exc:
            raise UpstreamError(
                "the token endpoint's answer has no access_token", backend=self.backend
            ) from exc
        self._token = str(token)
        self._expires_at = time.monotonic() + max(lifetime - EXPIRY_MARGIN, 1.0)
        self.fetches += 1

    async def token(self, *, refresh: bool = False) -> str:
        async with self._lock:
            if refresh or self._token is None or time.monotonic() >= self._expires_at:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        used = await self.token()
        request.headers["Authorization"] = f"Bearer {used}"
        response = yield request
        if response.status_code == 401:
            fresh = await self.token(refresh=self._token == used)
            request.headers["Authorization"] = f"Bearer {fresh}"
            yield request


def build_auth(settings: BackendAuthSettings | None, backend: str, timeout: float) -> httpx.Auth | None:
    if settings is None:
        return None
    if settings.bearer is not None:
        return BearerAuth(settings.bearer.get_secret_value())
    if settings.basic is not None:
        return httpx.BasicAuth(settings.basic.username, settings.basic.password.get_secret_value())
    if settings.api_key is not None:
        key = settings.api_key
        return ApiKeyAuth(key.value.get_secret_value(), header=key.header, query=key.query)
    assert settings.oauth2_client_credentials is not None
    return OAuth2ClientCredentialsAuth(settings.oauth2_client_credentials, backend, timeout)
