"""The hash chain: each record's hash covers its content and the previous record's hash.

    hash(n) = SHA-256(prev_hash || canonical JSON of record n, `seq` included)

Editing, deleting, inserting or reordering any record breaks the chain from that record on.
Truncating the tail does not, which is what the signed checkpoints are for.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from typing import Any

import orjson

GENESIS = "0" * 64
CHAINED_FIELDS = (
    "seq",
    "at",
    "request_id",
    "principal",
    "on_behalf_of",
    "door",
    "tool",
    "arguments",
    "decision",
    "policies",
    "outcome",
    "upstream_status",
    "latency_ms",
)


# Added later (schemas 0002, 0003): hashed only when set, so records written before keep their hashes.
OPTIONAL_CHAINED_FIELDS = ("parent_id", "via", "trace_id", "backend", "cache", "session", "conversation")


def record_hash(prev_hash: str, record: Mapping[str, Any]) -> str:
    fields = {k: record[k] for k in CHAINED_FIELDS}
    fields.update((k, record[k]) for k in OPTIONAL_CHAINED_FIELDS if record.get(k) is not None)
    content = orjson.dumps(fields, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(prev_hash.encode() + b"\n" + content).hexdigest()


def checkpoint_signature(key: bytes, seq: int, chain_hash: str) -> str:
    return hmac.new(key, f"{seq}:{chain_hash}".encode(), hashlib.sha256).hexdigest()
