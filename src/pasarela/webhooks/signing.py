"""Standard Webhooks signatures (https://www.standardwebhooks.com): HMAC-SHA256 over
`{webhook-id}.{webhook-timestamp}.{body}` with the secret's decoded bytes, sent as `v1,<base64>`."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
from typing import Any

from pasarela import jsonsafe


def signature(key: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(key: bytes, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three headers a receiver verifies; the timestamp is the attempt's (receivers refuse old ones)."""
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(key, message_id, timestamp, body),
    }


def envelope(event_type: str, payload: dict[str, Any], at: float) -> bytes:
    """The body, fixed when the delivery is queued: every attempt sends the same bytes."""
    when = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return jsonsafe.dumps({"type": event_type, "timestamp": when, "data": payload})
