"""Events as Pasarela holds them: one shape for every source, CloudEvents 1.0 when shown."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

SOURCE_URI = "urn:pasarela:source:"  # CloudEvents `source`: the configured source that ingested it
SCHEMA_URI = "urn:pasarela:schema:"  # CloudEvents `dataschema`: the registry schema of `data`


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event mapped from a message, not stored yet."""

    source: str  # the configured source's name: (source, id) is stored once
    id: str
    type: str
    time: str  # ISO 8601
    data: Any
    subject: str | None = None
    dataschema: str | None = None  # name@version


@dataclass(frozen=True, slots=True)
class Event:
    """An event in the log, at position `seq`."""

    seq: int
    source: str
    id: str
    type: str
    time: str
    data: Any
    subject: str | None
    dataschema: str | None
    ingested_at: float

    @property
    def cursor(self) -> str:
        return str(self.seq)

    def context(self) -> dict[str, Any]:
        """What policies (`context.event`) and `invalidate_on` expressions read."""
        found = {
            "type": self.type,
            "source": self.source,
            "id": self.id,
            "time": self.time,
            "data": self.data,
        }
        if self.subject is not None:
            found["subject"] = self.subject
        return found

    def cloudevent(self, data: Any = None) -> dict[str, Any]:
        """The CloudEvents 1.0 JSON form, with `data` as given (redacted for its reader)."""
        shown: dict[str, Any] = {
            "specversion": "1.0",
            "id": self.id,
            "source": SOURCE_URI + self.source,
            "type": self.type,
            "time": self.time,
            "datacontenttype": "application/json",
        }
        if self.subject is not None:
            shown["subject"] = self.subject
        if self.dataschema is not None:
            shown["dataschema"] = SCHEMA_URI + self.dataschema
        shown["sequence"] = self.cursor  # the CloudEvents `sequence` extension: the log's position
        shown["data"] = self.data if data is None else data
        return shown


@dataclass(frozen=True, slots=True)
class Appended:
    seq: int
    duplicate: bool  # (source, id) was stored before: nothing new was
    event: Event | None = None  # what this append stored (None for a duplicate), for the tail
