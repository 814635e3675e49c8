"""One POST of a delivery: never a redirect followed, no cookies, no proxy from the environment,
bounded by the endpoint's timeout; only a short redacted excerpt of an answer is kept."""

from __future__ import annotations

import time

import aiohttp

from pasarela import __version__
from pasarela.secrets import Redactor
from pasarela.webhooks.outbox import Attempt
from pasarela.webhooks.retries import parse_retry_after

EXCERPT = 200  # characters of an answer kept with a failed attempt
_READ = 2048  # bytes of an answer read at most: the rest is never looked at
USER_AGENT = f"Pasarela-Webhooks/{__version__}"


class Sender:
    def __init__(self, redactor: Redactor) -> None:
        self.redactor = redactor
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                cookie_jar=aiohttp.DummyCookieJar(),  # a receiver's cookie never comes back
                trust_env=False,  # no proxy or ~/.netrc from the environment
                headers={"User-Agent": USER_AGENT},
            )
        return self._session

    async def post(self, url: str, headers: dict[str, str], body: bytes, timeout: float) -> Attempt:
        started = time.time()
        clock = time.perf_counter()

        def done(
            code: int | None = None, error: str | None = None, retry_after: float | None = None
        ) -> Attempt:
            return Attempt(started, (time.perf_counter() - clock) * 1000, code, error, retry_after)

        try:
            async with self._client().post(
                url,
                data=body,
                headers={**headers, "Content-Type": "application/json"},
                allow_redirects=False,  # a redirect could point anywhere, our own network included
                timeout=aiohttp.ClientTimeout(total=timeout),
            ) as response:
                code = response.status
                # A short answer is read whole, so the connection can serve the next delivery.
                answer = await response.content.read(_READ)
                if 200 <= code < 300:
                    return done(code)
                error = f"HTTP {code}"
                if 300 <= code < 400:
                    location = self.redactor.excerpt(response.headers.get("Location", ""), EXCERPT)
                    error += f": redirect not followed (Location: {location})"
                elif excerpt := self.redactor.excerpt(answer, EXCERPT).strip():
                    error += f": {excerpt}"
                retry_after = parse_retry_after(response.headers.get("Retry-After"), time.time())
                return done(code, error, retry_after)
        except TimeoutError:
            return done(error=f"no answer within {timeout:g}s")
        except aiohttp.ClientError as exc:
            return done(error=self.redactor.excerpt(f"{type(exc).__name__}: {exc}", EXCERPT * 2))
        except OSError as exc:
            return done(error=self.redactor.excerpt(f"{type(exc).__name__}: {exc}", EXCERPT * 2))

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
