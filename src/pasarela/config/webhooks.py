"""`webhooks:` — endpoints registered per principal, where Pasarela tells agents' own systems that
something happened (a job finished, an event arrived). Never a URL an agent sends."""

from __future__ import annotations

import base64
import binascii
import ipaddress
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationInfo, field_validator

from pasarela.config.base import NAME, Strict
from pasarela.config.durations import Duration

SECRET_PREFIX = "whsec_"  # noqa: S105 (the prefix, not a secret)
SECRET_BYTES = (24, 64)  # what the Standard Webhooks specification asks of a secret
EXPECTED_FORM = (
    "expected a Standard Webhooks secret: `whsec_` followed by the base64 of 24 to 64 random bytes "
    "(e.g. whsec_ + the output of `openssl rand -base64 32`); give it as ${secret:NAME}"
)
# Svix's schedule: at once, then 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (about 28 h in all).
DEFAULT_SCHEDULE = [0.0, 5.0, 300.0, 1800.0, 7200.0, 18000.0, 36000.0, 36000.0]
PRINCIPAL = r"^[A-Za-z0-9_.@:-]{1,128}$"
EVENT_PATTERN = r"^[A-Za-z0-9_.*?-]{1,200}$"  # an event type, or a glob of them (job.*)


def secret_key(value: str) -> bytes:
    """The HMAC key of a `whsec_…` secret; ValueError (never echoing the value) if it is not one."""
    if not value.startswith(SECRET_PREFIX):
        raise ValueError(EXPECTED_FORM)
    encoded = value.removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(EXPECTED_FORM) from None
    if not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise ValueError(f"{EXPECTED_FORM}; this one decodes to {len(key)} bytes")
    return key


def is_loopback(host: str) -> bool:
    if host.lower() == "localhost" or host.lower().endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class WebhookEndpointSettings(Strict):
    """One receiver: which principal's notifications it gets, where, and how they are signed."""

    principal: Annotated[str, Field(pattern=PRINCIPAL)] = Field(
        description="The principal (an agent) whose notifications this endpoint receives; no other's"
    )
    insecure_http: bool = Field(
        False,
        description="Allow http:// to a host other than loopback (payloads and signatures travel in clear)",
    )
    url: str = Field(description="Where deliveries are POSTed: https:// (http:// only to loopback)")
    secret: SecretStr = Field(
        description="The signing secret, whsec_ + base64 (Standard Webhooks); ${secret:…}"
    )
    events: list[Annotated[str, Field(pattern=EVENT_PATTERN)]] = Field(
        min_length=1, description="Event types delivered here; globs allowed: job.*, *"
    )
    timeout: Duration = Field(10.0, gt=0, description="Each attempt, connecting to reading the answer")

    @field_validator("url")
    @classmethod
    def _url(cls, value: str, info: ValidationInfo) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("https", "http") or not parts.hostname:
            raise ValueError(f"expected an https:// URL, got {value!r}")
        if parts.username is not None or parts.password is not None:
            raise ValueError(
                "credentials in the URL would be logged and stored: authenticate by the signature"
            )
        if parts.fragment:
            raise ValueError("a URL fragment is never sent: remove it")
        if parts.scheme == "http" and not is_loopback(parts.hostname) and not info.data.get("insecure_http"):
            raise ValueError(
                f"https is required (payloads and signatures would travel in clear to {parts.hostname}); "
                "http:// is accepted for loopback hosts, or with insecure_http: true"
            )
        return value

    @field_validator("secret")
    @classmethod
    def _secret(cls, value: SecretStr) -> SecretStr:
        secret_key(value.get_secret_value())
        return value


class WebhooksSettings(Strict):
    """Webhook delivery: one signed, durable, retried machinery for jobs and events."""

    endpoints: dict[Annotated[str, Field(pattern=NAME)], WebhookEndpointSettings] = Field(
        {}, description="Receivers by name, each belonging to one principal"
    )
    retry_schedule: list[Duration] = Field(
        DEFAULT_SCHEDULE,
        min_length=1,
        max_length=50,
        description="Wait before each attempt: the first (0s: at once), then after each failure; a "
        "delivery fails once every attempt is spent",
    )
    retry_after_max: Duration = Field(
        3600.0, description="A receiver's Retry-After is honoured up to this long"
    )
    poll_interval: Duration = Field(
        1.0,
        gt=0,
        description="How often the outbox is read when nothing woke the loop (deliveries queued by "
        "another process on SQLite, or LISTEN lost on PostgreSQL)",
    )
    concurrency: int = Field(16, ge=1, le=256, description="Deliveries in flight per process")

    @field_validator("retry_schedule")
    @classmethod
    def _bounded(cls, value: list[float]) -> list[float]:
        if any(delay > 7 * 86400 for delay in value):
            raise ValueError("a wait longer than 7 days is a delivery nobody waits for any more")
        return value
