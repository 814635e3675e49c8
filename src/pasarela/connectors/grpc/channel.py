"""One grpc.aio channel per backend: plaintext or TLS (mutual with a client certificate), the
gateway's own metadata, and the gateway's safe defaults (no proxy from the environment)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import grpc
from pasarela import __version__
from pasarela.config.backends import GrpcBackend
from pasarela.config.grpc import metadata_key_problem
from pasarela.connectors.http_auth import static_headers

Metadata = tuple[tuple[str, str], ...]


class ChannelSettingError(ValueError):
    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


def open_channel(settings: GrpcBackend, base_dir: Path) -> grpc.aio.Channel:
    options: list[tuple[str, str | int]] = [
        ("grpc.max_receive_message_length", settings.max_message_bytes),
        # Like the HTTP connectors: no proxy picked up from the environment behind the operator's back.
        ("grpc.enable_http_proxy", 0),
        ("grpc.primary_user_agent", f"pasarela/{__version__}"),
    ]
    if settings.tls is None:
        return grpc.aio.insecure_channel(settings.grpc, options=options)
    tls = settings.tls
    if tls.server_name:
        options.append(("grpc.ssl_target_name_override", tls.server_name))
    credentials = grpc.ssl_channel_credentials(
        root_certificates=_pem(tls.ca_cert, "tls.ca_cert", base_dir),
        private_key=_pem(
            tls.client_key.get_secret_value() if tls.client_key else None, "tls.client_key", base_dir
        ),
        certificate_chain=_pem(tls.client_cert, "tls.client_cert", base_dir),
    )
    return grpc.aio.secure_channel(settings.grpc, credentials, options=options)


def _pem(value: str | None, key: str, base_dir: Path) -> bytes | None:
    """PEM text as given (a secret, usually), or the content of the file it names."""
    if value is None:
        return None
    if value.lstrip().startswith("-----BEGIN"):
        return value.encode()
    path = Path(value).expanduser()
    path = path if path.is_absolute() else base_dir / path
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise ChannelSettingError(key, f"cannot read {path}: {exc.strerror}") from None
    if b"-----BEGIN" not in content:
        raise ChannelSettingError(key, f"{path} holds no PEM block")
    return content


def backend_metadata(settings: GrpcBackend) -> Metadata:
    """The gateway's credential and fixed metadata, sent on every call (reflection and health too)."""
    auth = static_headers(settings.auth) or {}
    pairs = {**settings.metadata, **{key.lower(): value for key, value in auth.items()}}
    return tuple(pairs.items())


def call_metadata(own: Metadata, extra: Mapping[str, str]) -> Metadata:
    """`own` with the call's extra headers (e.g. trace context) that are valid metadata; ours win."""
    if not extra:
        return own
    taken = {key for key, _ in own}
    added = tuple(
        (key.lower(), value)
        for key, value in extra.items()
        if key.lower() not in taken and metadata_key_problem(key) is None and _printable(value)
    )
    return own + added


def _printable(value: str) -> bool:
    return value.isascii() and value.isprintable()
