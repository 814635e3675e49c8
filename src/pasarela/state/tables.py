"""The durable state's tables (SQLAlchemy Core; created on first use)."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Float, Index, Integer, MetaData, String, Table, Text

# An id the database counts: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite.
COUNTER = BigInteger().with_variant(Integer(), "sqlite")

metadata = MetaData()

tool_pins = Table(
    "pasarela_tool_pins",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("backend", String(64), nullable=False),
    Column("digest", String(64), nullable=False),
    Column("spec", Text, nullable=False),  # canonical JSON of what was approved
    Column("pinned_at", Float, nullable=False),
    Column("pending_digest", String(64), nullable=True),  # a changed definition awaiting approval
    Column("pending_spec", Text, nullable=True),
    Column("changed_at", Float, nullable=True),
)

audit_records = Table(
    "pasarela_audit",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("at", Float, nullable=False),
    Column("request_id", String(200), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("on_behalf_of", String(200), nullable=True),
    Column("door", String(16), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("arguments", Text, nullable=False),  # JSON, sensitive values masked
    Column("decision", String(8), nullable=False),  # allow | deny
    Column("policies", Text, nullable=False),  # JSON list of deciding policy labels
    Column("outcome", String(64), nullable=False),  # ok | problem code
    Column("upstream_status", Integer, nullable=True),
    Column("latency_ms", Float, nullable=False),
    Column("parent_id", String(200), nullable=True),  # the call this one was made for (a composite's)
    Column("via", String(16), nullable=True),  # who made it, when not the agent: composite, fallback, job
    # Schema 0003 (observability): the trace the call belongs to, where it went, how the cache
    # answered, and a hash of the MCP session (tools per session); all null in older records.
    Column("trace_id", String(32), nullable=True),
    Column("backend", String(64), nullable=True),
    Column("cache", String(8), nullable=True),
    Column("session", String(32), nullable=True),
    # Schema 0007: a hash of the conversation id the agent sent (tools per conversation).
    Column("conversation", String(32), nullable=True),
    Column("prev_hash", String(64), nullable=False),
    Column("hash", String(64), nullable=False),
)
Index("pasarela_audit_principal", audit_records.c.principal, audit_records.c.at)
Index("pasarela_audit_tool", audit_records.c.tool, audit_records.c.at)

audit_head = Table(
    "pasarela_audit_head",  # one row: where the chain ends (locked by each batch)
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("last_hash", String(64), nullable=False),
)

audit_checkpoints = Table(
    "pasarela_audit_checkpoints",
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),
    Column("hash", String(64), nullable=False),
    Column("at", Float, nullable=False),
    Column("signature", String(64), nullable=False),  # HMAC-SHA256 over seq and hash
)

quota_usage = Table(
    "pasarela_quota_usage",  # calls charged per quota rule, counter and period (UTC day or month)
    metadata,
    Column("rule", String(100), primary_key=True),
    Column("subject", String(300), primary_key=True),
    Column("period", String(16), primary_key=True),
    Column("used", BigInteger, nullable=False),
)

idempotency_keys = Table(
    "pasarela_idempotency",  # the first outcome of each client idempotency key, per principal
    metadata,
    Column("principal", String(200), primary_key=True),
    Column("key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),  # tool + canonical arguments
    Column("tool", String(64), nullable=False),
    Column("state", String(8), nullable=False),  # pending | done
    Column("outcome", Text, nullable=True),  # JSON {result, meta} once done
    Column("created_at", Float, nullable=False),
    Column("expires_at", Float, nullable=False),
)

schema_pins = Table(
    "pasarela_schema_pins",  # the accepted text of each registry schema (`pasarela schemas check --accept`)
    metadata,
    Column("name", String(80), primary_key=True),
    Column("digest", String(64), nullable=False),
    Column("schema", Text, nullable=False),
    Column("pinned_at", Float, nullable=False),
)

costs = Table(
    "pasarela_costs",  # one row per charged call (schema 0003)
    metadata,
    Column("id", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
    Column("at", Float, nullable=False),
    Column("day", String(10), nullable=False),  # UTC, YYYY-MM-DD: showback groups by it
    Column("request_id", String(200), nullable=False),
    Column("principal", String(200), nullable=False),
    Column("roles", Text, nullable=False),  # JSON list, sorted
    Column("backend", String(64), nullable=False),
    Column("tool", String(64), nullable=False),
    Column("units", Float, nullable=True),
    Column("seconds", Float, nullable=False),
    Column("amount", Float, nullable=False),
    Column("currency", String(3), nullable=False),
)
Index("pasarela_costs_day", costs.c.day)
Index("pasarela_costs_principal", costs.c.principal, costs.c.day)

cost_spend = Table(
    "pasarela_cost_spend",  # running spend per principal, period (UTC day or month) and currency
    metadata,
    Column("principal", String(200), primary_key=True),
    Column("period", String(10), primary_key=True),
    Column("currency", String(3), primary_key=True),
    Column("spent", Float, nullable=False),
)
jobs = Table(
    "pasarela_jobs",  # durable jobs: a tool call stored to run later, by a worker, as its owner
    metadata,
    Column("id", String(40), primary_key=True),
    Column("owner", String(200), nullable=False),  # the principal's id
    Column("principal", Text, nullable=False),  # JSON (Principal.to_json): who it runs as
    Column("tool", String(64), nullable=False),
    Column("arguments", Text, nullable=False),  # JSON, as given (needed to run; gone at expiry)
    Column("door", String(16), nullable=False),
    Column("request_id", String(200), nullable=False),  # the start's; each run's parent in the audit
    Column("client_key", String(255), nullable=True),  # the Idempotency-Key the start carried
    Column("status", String(16), nullable=False),  # queued | running | completed | failed | cancelled
    Column("attempts", Integer, nullable=False),
    Column("max_attempts", Integer, nullable=False),
    Column("timeout", Float, nullable=False),  # seconds each run may take
    Column("retention", Float, nullable=False),  # seconds a finished job is kept
    Column("progress", Float, nullable=True),  # 0..1 when the tool reports it
    Column("message", String(500), nullable=True),  # the tool's last progress message
    Column("created_at", Float, nullable=False),
    Column("started_at", Float, nullable=True),
    Column("finished_at", Float, nullable=True),
    Column("run_after", Float, nullable=False),  # not claimed before (a retry's back-off)
    Column("lease_owner", String(100), nullable=True),  # the worker running it
    Column("lease_until", Float, nullable=True),  # past this, another worker may take it over
    Column("cancel_requested", Integer, nullable=False),  # 0 | 1
    Column("outcome", Text, nullable=True),  # JSON {result, meta} once completed
    Column("problem", Text, nullable=True),  # JSON problem document once failed or cancelled
    Column("expires_at", Float, nullable=True),  # finished_at + retention
    # Schema 0007: the W3C traceparent of the call that started it; each run's span links to it.
    Column("traceparent", String(55), nullable=True),
)
Index("pasarela_jobs_due", jobs.c.status, jobs.c.run_after)
Index("pasarela_jobs_owner", jobs.c.owner, jobs.c.created_at)
Index("pasarela_jobs_key", jobs.c.owner, jobs.c.client_key, unique=True)
webhook_deliveries = Table(
    "pasarela_webhook_deliveries",  # the outbox: one row per message and endpoint
    metadata,
    Column("id", String(40), primary_key=True),
    Column("message_id", String(200), nullable=False),  # webhook-id: the same on every attempt
    Column("endpoint", String(64), nullable=False),
    Column("principal", String(200), nullable=False),  # whose notification it is
    Column("event_type", String(200), nullable=False),
    Column("body", Text, nullable=False),  # the exact JSON sent on every attempt
    Column("status", String(16), nullable=False),  # pending | delivered | failed | disabled
    Column("attempts", Integer, nullable=False),
    Column("round_attempts", Integer, nullable=False),  # since queued or redelivered: the schedule's place
    # When the next attempt is due; a claim moves it to the claim's end, so a crashed worker's
    # delivery is due again once its lease is over.
    Column("next_attempt_at", Float, nullable=False),
    Column("claimed_by", String(64), nullable=True),
    Column("last_status", Integer, nullable=True),
    Column("last_error", String(500), nullable=True),
    Column("created_at", Float, nullable=False),
    Column("delivered_at", Float, nullable=True),
)
Index("pasarela_webhook_due", webhook_deliveries.c.status, webhook_deliveries.c.next_attempt_at)
Index("pasarela_webhook_message", webhook_deliveries.c.endpoint, webhook_deliveries.c.message_id, unique=True)
Index("pasarela_webhook_created", webhook_deliveries.c.created_at)

webhook_attempts = Table(
    "pasarela_webhook_attempts",  # every attempt of every delivery
    metadata,
    Column("id", COUNTER, primary_key=True, autoincrement=True),
    Column("delivery_id", String(40), nullable=False),
    Column("at", Float, nullable=False),
    Column("status_code", Integer, nullable=True),  # None: no answer (timeout, refused connection)
    Column("error", String(500), nullable=True),  # what went wrong, with a short redacted excerpt
    Column("duration_ms", Float, nullable=False),
)
Index("pasarela_webhook_attempts_delivery", webhook_attempts.c.delivery_id, webhook_attempts.c.id)

webhook_endpoints = Table(
    "pasarela_webhook_endpoints",  # an endpoint's state, once something happened to it (410 Gone)
    metadata,
    Column("name", String(64), primary_key=True),
    Column("disabled_at", Float, nullable=True),
    Column("disabled_reason", String(500), nullable=True),
)

events = Table(
    "pasarela_events",  # the event log (schema 0006): CloudEvents in the order they were stored
    metadata,
    Column("seq", BigInteger, primary_key=True, autoincrement=False),  # the position; cursors name it
    Column("source", String(64), nullable=False),  # the configured source that ingested it
    Column("event_id", String(200), nullable=False),  # CloudEvents id: (source, id) is stored once
    Column("type", String(200), nullable=False),
    Column("subject", String(500), nullable=True),
    Column("time", String(40), nullable=False),  # ISO 8601, when it happened (the source's word)
    Column("dataschema", String(100), nullable=True),  # the registry schema (name@version) of data
    Column("data", Text, nullable=False),  # JSON
    Column("ingested_at", Float, nullable=False),  # when it was stored (retention, delivery lag)
)
Index("pasarela_events_identity", events.c.source, events.c.event_id, unique=True)
Index("pasarela_events_ingested", events.c.ingested_at)

event_head = Table(
    "pasarela_event_head",  # one row: the last position given out (locked by each append)
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("last_seq", BigInteger, nullable=False),
)

event_positions = Table(
    "pasarela_event_positions",  # where each reader is: a source's offset, a subscriber's cursor
    metadata,
    Column("name", String(200), primary_key=True),  # source:<name> | cursor:<subscriber>
    Column("position", Text, nullable=True),
    Column("owner", String(100), nullable=True),  # the process holding a source's lease
    Column("lease_until", Float, nullable=True),
    Column("updated_at", Float, nullable=False),
)
