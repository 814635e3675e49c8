"""`jobs:` (the workers and their limits) and a tool's `execution:` and `job:` settings."""

from __future__ import annotations

from typing import Literal

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, field_validator

from pasarela.config.base import Strict
from pasarela.config.durations import Duration

Execution = Literal["sync", "async", "optional"]


class ToolJobSettings(Strict):
    """How this tool runs as a job (`POST /v1/tools/{name}:start`, an MCP task)."""

    timeout: Duration = Field(3600.0, gt=0, description="How long one run may take (the backend's limit too)")
    attempts: int = Field(
        3, ge=1, le=20, description="Runs at most, counting those a stopped worker left unfinished"
    )
    retention: Duration = Field(86400.0, gt=0, description="How long a finished job and its result are kept")


class JobsSettings(Strict):
    workers: int = Field(
        4,
        ge=0,
        le=256,
        description="Jobs this process runs at once (`pasarela serve` and `pasarela worker`); 0: none here",
    )
    lease: Duration = Field(
        30.0, ge=2, description="A running job whose worker has not renewed it for this long is run again"
    )
    poll_interval: Duration = Field(
        1.0, gt=0, description="How often idle workers look for work without being woken"
    )
    max_active_per_principal: int = Field(
        100, gt=0, description="Queued and running jobs one principal may have at once (more: 429)"
    )
    max_wait: Duration = Field(
        60.0, gt=0, le=300, description="The longest `?wait=` a result request may ask"
    )


class FollowSettings(Strict):
    """A backend that answers `202 Accepted` and a status URL (OpenAPI tools): followed to the
    end within the same call, so the agent sees one call (or one job). Each expression is
    JMESPath over `{status, headers, body}` of an answer (header names in lower case)."""

    status_url: str = Field(
        "headers.location", description="Where to ask how it is going, from the 202 (relative to the backend)"
    )
    done: str = Field(description="True when a status answer says the work is finished")
    failed: str | None = Field(None, description="True when a status answer says the work failed")
    result: str = Field("body", description="The result, from the last status answer")
    result_url: str | None = Field(
        None, description="Instead of `result`: a URL (from the last status answer) to GET the result from"
    )
    progress: str | None = Field(None, description="A number from 0 to 1, from a status answer")
    message: str | None = Field(None, description="What it is doing, from a status answer")
    interval: Duration = Field(2.0, gt=0, description="Between status requests (a Retry-After wins)")

    @field_validator("status_url", "done", "failed", "result", "result_url", "progress", "message")
    @classmethod
    def _expression(cls, text: str | None) -> str | None:
        if text is not None:
            try:
                jmespath.compile(text)
            except JMESPathError as exc:
                raise ValueError(
                    f"not a valid JMESPath expression: {str(exc).replace(chr(10), ' ')}"
                ) from None
        return text
