"""Following a `202 Accepted` to the end: ask the status URL until the work is done, then take
the result — within the call's own time, on the backend's own origin, with its credential."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urljoin, urlsplit

import anyio

from pasarela.connectors.asynchronous import FollowPlan, answer_view, truthy
from pasarela.connectors.retry_after import parse_retry_after
from pasarela.errors import UpstreamError, UpstreamTimeout

# GET `url` within `limit` seconds: (status, decoded body, headers)
Get = Callable[[str, float], Awaitable[tuple[int, Any, Mapping[str, str]]]]
Report = Callable[[float | None, str | None], Awaitable[None]]
MAX_WAIT = 60.0  # the longest a status answer's Retry-After may make us wait between two looks


class Follower:
    def __init__(self, plan: FollowPlan, get: Get, *, backend: str, tool: str, base_url: str) -> None:
        self.plan = plan
        self.get = get
        self.backend = backend
        self.tool = tool
        self.base_url = base_url

    async def to_the_end(
        self, status: int, headers: Mapping[str, str], body: Any, deadline: float, report: Report | None
    ) -> Any:
        """The result, once a status answer says the work is done."""
        view = answer_view(status, headers, body)
        url = self._same_origin(self.plan.status_url.search(view), "status_url")
        wait = self.plan.interval
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= wait:
                raise UpstreamTimeout(
                    f"{self.backend} had not finished {self.tool} within the call's time",
                    backend=self.backend,
                )
            await anyio.sleep(wait)
            status, body, headers = await self.get(url, deadline - time.monotonic())
            if status >= 400:
                raise UpstreamError(
                    f"{self.backend} answered HTTP {status} when asked how {self.tool} is going",
                    backend=self.backend,
                    upstream_status=status,
                )
            view = answer_view(status, headers, body)
            await self._report(view, report)
            if self.plan.failed is not None and truthy(self.plan.failed.search(view)):
                raise UpstreamError(
                    f"{self.backend} reports that {self.tool} failed",
                    backend=self.backend,
                    upstream_body=body,
                )
            if truthy(self.plan.done.search(view)):
                return await self._result(view, deadline)
            later = parse_retry_after(headers.get("Retry-After"))
            wait = min(MAX_WAIT, later) if later is not None else self.plan.interval

    async def _result(self, view: dict[str, Any], deadline: float) -> Any:
        if self.plan.result_url is None:
            return self.plan.result.search(view)
        url = self._same_origin(self.plan.result_url.search(view), "result_url")
        status, body, _ = await self.get(url, max(0.0, deadline - time.monotonic()))
        if status >= 400:
            raise UpstreamError(
                f"{self.backend} answered HTTP {status} to the result of {self.tool}",
                backend=self.backend,
                upstream_status=status,
            )
        return body

    async def _report(self, view: dict[str, Any], report: Report | None) -> None:
        if report is None or (self.plan.progress is None and self.plan.message is None):
            return
        fraction = self.plan.progress.search(view) if self.plan.progress is not None else None
        message = self.plan.message.search(view) if self.plan.message is not None else None
        await report(
            float(fraction) if isinstance(fraction, int | float) and not isinstance(fraction, bool) else None,
            str(message) if message is not None else None,
        )

    def _same_origin(self, found: Any, key: str) -> str:
        """An absolute URL on the backend's own origin: a status URL is never a way elsewhere."""
        if not isinstance(found, str) or not found:
            raise UpstreamError(
                f"{self.backend} gave no {key.replace('_', ' ')} for {self.tool} (follow.{key} found "
                f"{type(found).__name__})",
                backend=self.backend,
            )
        url = urljoin(self.base_url + "/", found)
        mine, theirs = urlsplit(self.base_url), urlsplit(url)
        if (theirs.scheme, theirs.netloc) != (mine.scheme, mine.netloc):
            raise UpstreamError(
                f"{self.backend} pointed {self.tool}'s {key.replace('_', ' ')} outside its own origin "
                f"({theirs.scheme}://{theirs.netloc}): not followed",
                backend=self.backend,
            )
        return url
