"""The CloudEvents envelope (with the `cloudevents` package): incoming CloudEvents read in any
content mode, and every mapped event checked against the 1.0 specification before it is stored."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

import orjson

from pasarela.errors import EventRefused
from pasarela.events.model import SOURCE_URI, NewEvent

CLOUDEVENTS_JSON = "application/cloudevents+json"
MAX_ID = 200
MAX_SUBJECT = 500


def iso(moment: dt.datetime) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def parse_time(value: Any, where: str) -> str:
    """An ISO 8601 time (or seconds since the epoch) as ISO 8601 UTC; EventRefused if neither."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return iso(dt.datetime.fromtimestamp(float(value), dt.UTC))
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, str):
        try:
            return iso(dt.datetime.fromisoformat(value))
        except ValueError:
            pass
    raise EventRefused(f"{where}: expected a time in ISO 8601 (2026-11-30T10:00:00Z), got {value!r:.80}")


def is_cloudevent(headers: Mapping[str, str]) -> bool:
    """A request carrying a CloudEvent: structured (its content type) or binary (ce- headers)."""
    content_type = headers.get("content-type", "")
    return content_type.startswith(CLOUDEVENTS_JSON) or "ce-specversion" in headers


def read_http(headers: Mapping[str, str], body: bytes) -> dict[str, Any]:
    """An HTTP request carrying a CloudEvent as `{id, source, type, subject?, time?, data}`."""
    from cloudevents.core.bindings.http import HTTPMessage, from_http
    from cloudevents.core.formats.json import JSONFormat

    try:
        event = from_http(HTTPMessage(headers=dict(headers), body=body), JSONFormat())
    except Exception as exc:  # noqa: BLE001 - the SDK raises many kinds for one thing: not a CloudEvent
        raise EventRefused(f"not a CloudEvent: {_reason(exc)}") from None
    return _as_dict(event.get_attributes(), event.get_data())


def read_json(body: bytes | str) -> dict[str, Any]:
    """A structured-mode CloudEvent (JSON), e.g. a broker message's body."""
    from cloudevents.core.formats.json import JSONFormat

    try:
        event = JSONFormat().read(None, body)
    except Exception as exc:  # noqa: BLE001 - as above
        raise EventRefused(f"not a CloudEvent: {_reason(exc)}") from None
    return _as_dict(event.get_attributes(), event.get_data())


def _as_dict(attributes: Mapping[str, Any], data: Any) -> dict[str, Any]:
    found = dict(attributes)
    if isinstance(data, bytes | bytearray):
        try:
            data = orjson.loads(data)
        except orjson.JSONDecodeError:
            raise EventRefused("the CloudEvent's data is not JSON") from None
    found["data"] = data
    return found


def _reason(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return text[:300] or type(exc).__name__


def checked(event: NewEvent) -> NewEvent:
    """`event` if it is a valid CloudEvents 1.0 event (checked by the SDK), else EventRefused."""
    from cloudevents.core.v1.event import CloudEvent

    if not event.id or len(event.id) > MAX_ID:
        raise EventRefused(f"the event id must be 1 to {MAX_ID} characters, got {len(event.id)}")
    if event.subject is not None and len(event.subject) > MAX_SUBJECT:
        raise EventRefused(f"the subject must be at most {MAX_SUBJECT} characters")
    attributes: dict[str, Any] = {
        "id": event.id,
        "source": SOURCE_URI + event.source,
        "type": event.type,
        "specversion": "1.0",
        "time": dt.datetime.fromisoformat(event.time),
        "datacontenttype": "application/json",
    }
    if event.subject is not None:
        attributes["subject"] = event.subject
    try:
        CloudEvent(attributes, event.data)
    except Exception as exc:  # noqa: BLE001 - CloudEventValidationError and kin
        raise EventRefused(f"not a valid CloudEvent: {_reason(exc)}") from None
    return event
