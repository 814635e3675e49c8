"""`events:` — where events come from (webhooks, brokers, change data capture), how each becomes a
CloudEvent of a registry schema, how long the log keeps them, and how event types are redacted."""

from __future__ import annotations

import re
from typing import Annotated, Literal, Self

import jmespath
from jmespath.exceptions import JMESPathError
from pydantic import Field, SecretStr, field_validator, model_validator

from pasarela.config.base import NAME, Strict, exactly_one
from pasarela.config.durations import Duration

EVENT_TYPE = r"^[A-Za-z0-9_.-]{1,200}$"
SCHEMA_REF = r"^[A-Za-z][A-Za-z0-9_.-]{0,63}@[0-9]{1,6}$"
RESERVED_SOURCES = ("stream", "subscriptions", "cursors")  # paths of /v1/events/… that are not sources
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


def _jmespath(value: str | None) -> str | None:
    if value is not None:
        try:
            jmespath.compile(value)
        except JMESPathError as exc:
            raise ValueError(f"not a valid JMESPath expression: {exc}") from None
    return value


class EventRule(Strict):
    """How one kind of message of a source becomes an event (JMESPath over the message)."""

    type: Annotated[str, Field(pattern=EVENT_TYPE)] = Field(
        description="The event type, e.g. customer_updated"
    )
    when: str | None = Field(
        None, description="JMESPath: the rule applies when this is true (default: always)"
    )
    id: str | None = Field(
        None,
        description="JMESPath to the event's id (default: the message's own: webhook-id, CloudEvent id, …)",
    )
    subject: str | None = Field(None, description="JMESPath to what the event is about (e.g. customer_id)")
    time: str | None = Field(
        None, description="JMESPath to when it happened (ISO 8601; default: when received)"
    )
    data: str | None = Field(None, description="JMESPath building the event's data (default: the message)")
    schema_: Annotated[str, Field(pattern=SCHEMA_REF)] | None = Field(
        None, alias="schema", description="A registry schema (name@version) the data must satisfy"
    )

    @field_validator("when", "id", "subject", "time", "data")
    @classmethod
    def _expression(cls, value: str | None) -> str | None:
        return _jmespath(value)


class WebhookSourceSettings(Strict):
    """`POST /v1/events/{source}`, authenticated the source's own way."""

    auth: Literal["standard_webhooks", "hmac", "key"] = Field(
        "standard_webhooks",
        description="standard_webhooks: webhook-id/-timestamp/-signature; hmac: an HMAC of the body in "
        "`header`; key: a shared key in `header`",
    )
    secret: SecretStr = Field(
        description="whsec_… (standard_webhooks), the HMAC key, or the key; ${secret:…}"
    )
    header: str | None = Field(
        None, description="hmac: the signature's header (X-Signature); key: the key's header (X-Source-Key)"
    )
    algorithm: Literal["sha256", "sha512", "sha1"] = Field("sha256", description="hmac: the digest")
    encoding: Literal["hex", "base64"] = Field("hex", description="hmac: how the signature is written")
    prefix: str = Field("", description="hmac: text before the signature, e.g. `sha256=`")
    tolerance: Duration = Field(
        300.0, gt=0, description="standard_webhooks: timestamps further from now are refused (replays)"
    )


class NatsSourceSettings(Strict):
    url: str = Field("nats://127.0.0.1:4222", description="The NATS server")
    stream: str = Field(description="The JetStream stream")
    subject: str = Field(description="Subjects consumed (wildcards allowed), e.g. crm.customers.>")
    durable: str = Field(description="The durable consumer: its position survives restarts")
    batch: int = Field(100, ge=1, le=1000, description="Messages fetched at once")


class RabbitmqSourceSettings(Strict):
    url: SecretStr = Field(description="amqp://user:password@host/vhost; ${secret:…}")
    queue: str = Field(description="The queue consumed (declared durable if missing)")
    prefetch: int = Field(100, ge=1, le=10000, description="Messages unacknowledged at once")


class RedisSourceSettings(Strict):
    url: SecretStr = Field(description="redis://host:port/db; ${secret:…} when it has a password")
    stream: str = Field(description="The stream read")
    group: str = Field("pasarela", description="The consumer group: its position survives restarts")
    batch: int = Field(100, ge=1, le=1000, description="Entries read at once")


class PostgresCdcSettings(Strict):
    """Log-based change data capture: logical decoding (pgoutput) through a replication slot."""

    url: SecretStr = Field(description="postgresql://… of the database captured; ${secret:…}")
    slot: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,63}$")] = Field(description="The replication slot")
    publication: Annotated[str, Field(pattern=r"^[a-z0-9_]{1,63}$")] = Field(
        description="The publication naming the tables captured"
    )
    tables: list[str] = Field(
        [], description="Tables of the publication, created if missing (schema.table or table)"
    )
    poll_interval: Duration = Field(0.2, gt=0, description="How often the slot is read when idle")
    batch: int = Field(1000, ge=1, le=100000, description="Changes read at once")


class SqlPollingSettings(Strict):
    """Change data capture by polling a sequence or timestamp column (SQLite, MariaDB/MySQL)."""

    url: SecretStr = Field(description="sqlite:///file.db or mysql://…; ${secret:…}")
    table: str = Field(description="The table polled")
    cursor_column: str = Field(description="A column that grows with every change: a sequence or timestamp")
    key_column: str | None = Field(
        None, description="The primary key, breaking ties of a timestamp cursor_column"
    )
    op: Literal["c", "u"] = Field("c", description="What a row found means: c (created) or u (updated)")
    snapshot: bool = Field(
        True,
        description="Whether the rows already there at the first start become events; false: only "
        "rows added later (as log-based capture, which starts at its slot's creation)",
    )
    poll_interval: Duration = Field(1.0, gt=0, description="How often the table is polled")
    batch: int = Field(500, ge=1, le=10000, description="Rows read at once")

    @field_validator("table", "cursor_column", "key_column")
    @classmethod
    def _identifier(cls, value: str | None) -> str | None:
        if value is not None and not all(IDENTIFIER.match(part) for part in value.split(".")):
            raise ValueError(
                f"{value!r}: expected a plain SQL name (letters, digits, _), e.g. bank_transactions"
            )
        return value


SOURCE_KINDS = ("webhook", "nats", "rabbitmq", "redis", "postgres_cdc", "sql_polling")


class EventSourceSettings(Strict):
    webhook: WebhookSourceSettings | None = None
    nats: NatsSourceSettings | None = None
    rabbitmq: RabbitmqSourceSettings | None = None
    redis: RedisSourceSettings | None = None
    postgres_cdc: PostgresCdcSettings | None = None
    sql_polling: SqlPollingSettings | None = None
    events: list[EventRule] = Field(
        [],
        description="Rules tried in order; the first that applies makes the event. None: each message "
        "must itself be a CloudEvent (structured JSON)",
    )

    @model_validator(mode="after")
    def _one_kind(self) -> Self:
        exactly_one(self, SOURCE_KINDS, "source kind")
        return self

    @property
    def kind(self) -> str:
        return next(k for k in SOURCE_KINDS if getattr(self, k) is not None)


class RedactFields(Strict):
    fields: list[str] = Field([], description="Field names masked wherever they appear in the data")
    paths: list[str] = Field([], description="Paths masked in the data, e.g. address.street")
    keep_last: int = Field(0, ge=0, le=8, description="Keep this many trailing characters (****1234)")


class EventTypeSettings(Strict):
    """What is done to events of one type before an agent sees them."""

    redact: RedactFields | None = Field(
        None, description='Masked in event data unless policy permits Action::"unmask" on the EventType'
    )


class EventsSettings(Strict):
    sources: dict[Annotated[str, Field(pattern=NAME)], EventSourceSettings] = Field(
        {}, description="Where events come from, by name (the name is in POST /v1/events/{source})"
    )
    types: dict[Annotated[str, Field(pattern=EVENT_TYPE)], EventTypeSettings] = Field(
        {}, description="Per event type: redaction of its data"
    )
    retention: Duration = Field(7 * 86400.0, gt=0, description="How long events are kept in the log")
    max_wait: Duration = Field(60.0, gt=0, le=600, description="The longest ?wait= a long poll may ask")
    poll_interval: Duration = Field(
        1.0, gt=0, description="How often the log is read when nothing woke this process (SQLite shared)"
    )
    max_data_bytes: int = Field(256 * 1024, ge=1024, description="The largest event data accepted")

    @field_validator("sources")
    @classmethod
    def _not_reserved(cls, value: dict[str, EventSourceSettings]) -> dict[str, EventSourceSettings]:
        for name in value:
            if name in RESERVED_SOURCES:
                raise ValueError(f"{name!r} is a path of /v1/events: name the source otherwise")
        return value
