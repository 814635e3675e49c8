"""Settings of `grpc:` backends that are theirs alone: TLS, the health check, metadata names."""

from __future__ import annotations

import re
from typing import Self

from pydantic import Field, SecretStr, model_validator

from pasarela.config.base import Strict
from pasarela.config.durations import Duration

# gRPC metadata keys: lowercase ASCII letters, digits, `-`, `_` and `.` (HTTP/2 header names).
METADATA_KEY = re.compile(r"^[0-9a-z_.-]+$")
# Set by gRPC itself or by the transport; never by configuration.
RESERVED_METADATA = ("grpc-", ":")
RESERVED_KEYS = frozenset({"content-type", "te", "user-agent", "host", "connection"})


def metadata_key_problem(key: str) -> str | None:
    """Why `key` cannot be sent as gRPC metadata by the gateway, or None if it can."""
    lowered = key.lower()
    if not METADATA_KEY.match(lowered):
        return f"{key!r} is not a gRPC metadata key (letters, digits, -, _ and . only)"
    if lowered.startswith(RESERVED_METADATA) or lowered in RESERVED_KEYS:
        return f"{key!r} is set by gRPC itself"
    if lowered.endswith("-bin"):
        return f"{key!r} names binary metadata; only text values can be configured"
    return None


class GrpcTlsSettings(Strict):
    """TLS to the server; with a client certificate and key, mutual TLS.

    Each of `ca_cert`, `client_cert` and `client_key` is PEM text (usually `${secret:…}`) or the
    path of a PEM file, relative to the configuration file.
    """

    ca_cert: str | None = Field(None, description="Roots to trust (PEM or a file); default: the system's")
    client_cert: str | None = Field(None, description="The gateway's certificate chain, for mutual TLS")
    client_key: SecretStr | None = Field(None, description="The key of client_cert (PEM or a file)")
    server_name: str | None = Field(
        None, description="The name the server's certificate must carry, if not the target's host"
    )

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.client_cert is None) != (self.client_key is None):
            raise ValueError("client_cert and client_key go together (mutual TLS needs both)")
        return self


class GrpcHealthSettings(Strict):
    """The standard health service (grpc.health.v1.Health/Check), asked when /readyz is."""

    enabled: bool = Field(True, description="Ask the server's health service for /readyz")
    service: str = Field("", description='The service name to ask about; "" is the server as a whole')
    timeout: Duration = Field(1.0, gt=0, description="How long one check may take")
    required: bool = Field(
        False,
        description="/readyz answers 503 while this backend is not SERVING (default: it is only reported)",
    )
