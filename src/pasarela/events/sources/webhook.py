"""Webhooks from systems (`POST /v1/events/{source}`): each source proves it sent the request its
own way — a Standard Webhooks signature, an HMAC of the body in a header, or a shared key. A
request that does not prove it is refused (401) before anything is read into the log."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Mapping

from pasarela.config.events import WebhookSourceSettings
from pasarela.config.webhooks import secret_key
from pasarela.errors import AuthenticationError

DEFAULT_HEADERS = {"hmac": "X-Signature", "key": "X-Source-Key"}


class WebhookVerifier:
    def __init__(self, source: str, settings: WebhookSourceSettings) -> None:
        self.source = source
        self.settings = settings
        secret = settings.secret.get_secret_value()
        if settings.auth == "standard_webhooks":
            self._key = secret_key(secret)
        else:
            self._key = secret.encode()
        self.header = (settings.header or DEFAULT_HEADERS.get(settings.auth, "")).lower()

    def verify(self, headers: Mapping[str, str], body: bytes, now: float) -> str | None:
        """The message's own id (webhook-id) when the request is authentic; AuthenticationError
        (naming what is wrong, never the expected value) when not."""
        if self.settings.auth == "standard_webhooks":
            return self._standard(headers, body, now)
        given = headers.get(self.header)
        if not given:
            raise AuthenticationError(f"events from {self.source!r} must carry the {self.header} header")
        if self.settings.auth == "key":
            if not hmac.compare_digest(given.encode(), self._key):
                raise AuthenticationError(f"the {self.header} header does not hold {self.source!r}'s key")
            return None
        digest = hmac.new(self._key, body, self.settings.algorithm).digest()
        encoded = digest.hex() if self.settings.encoding == "hex" else base64.b64encode(digest).decode()
        if not hmac.compare_digest(given.strip().encode(), (self.settings.prefix + encoded).encode()):
            raise AuthenticationError(f"the {self.header} signature does not match the body")
        return None

    def _standard(self, headers: Mapping[str, str], body: bytes, now: float) -> str:
        message_id = headers.get("webhook-id")
        stamp = headers.get("webhook-timestamp")
        signatures = headers.get("webhook-signature")
        if not (message_id and stamp and signatures):
            raise AuthenticationError(
                f"events from {self.source!r} must be signed: webhook-id, webhook-timestamp and "
                "webhook-signature (Standard Webhooks)"
            )
        if not stamp.isdigit() or abs(now - int(stamp)) > self.settings.tolerance:
            raise AuthenticationError(
                f"webhook-timestamp is more than {self.settings.tolerance:g}s from now (or not Unix seconds)"
            )
        signed = f"{message_id}.{stamp}.".encode() + body
        expected = base64.b64encode(hmac.new(self._key, signed, hashlib.sha256).digest())
        for entry in signatures.split():
            version, _, value = entry.partition(",")
            if version == "v1" and hmac.compare_digest(value.encode(), expected):
                return message_id
        raise AuthenticationError("webhook-signature does not match (wrong secret, or the body was altered)")
