"""`jobs:` (the workers and their limits) and a tool's `execution:` and `job:` settings."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

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
