"""Decoding PostgreSQL's `pgoutput` logical replication messages (protocol version 1) into
Debezium-style changes: `{before, after, op, source: {db, schema, table, lsn, txId, ts_ms}}`.

Only what change data capture needs: Begin, Commit, Relation, Insert, Update and Delete;
other messages (Type, Origin, Truncate, logical messages) are skipped. Column values arrive as
text and are converted by type: booleans, integers, floats and JSON become JSON values;
numeric stays a string (exact), everything else is its text form."""

from __future__ import annotations

import datetime as dt
import struct
from dataclasses import dataclass, field
from typing import Any

import orjson

EPOCH_2000 = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
BOOL, INT8, INT2, INT4, FLOAT4, FLOAT8, JSON, JSONB = 16, 20, 21, 23, 700, 701, 114, 3802


def lsn_text(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


def _convert(oid: int, text: str) -> Any:
    if oid == BOOL:
        return text == "t"
    if oid in (INT2, INT4, INT8):
        return int(text)
    if oid in (FLOAT4, FLOAT8):
        return float(text)
    if oid in (JSON, JSONB):
        return orjson.loads(text)
    return text


@dataclass(frozen=True, slots=True)
class Relation:
    schema: str
    table: str
    columns: tuple[tuple[str, int], ...]  # (name, type oid)


@dataclass(frozen=True, slots=True)
class Change:
    id: str  # the transaction's commit LSN and the change's place in it: stable across re-reads
    change: dict[str, Any]


@dataclass(slots=True)
class Decoder:
    database: str
    relations: dict[int, Relation] = field(default_factory=dict)
    _xid: int = 0
    _final_lsn: int = 0
    _committed_at: int = 0
    _pending: list[tuple[str, Relation, Any, Any]] = field(default_factory=list)

    def feed(self, data: bytes) -> tuple[list[Change], int | None]:
        """One message: the changes of a transaction when it commits, and the LSN the slot may
        then be confirmed to (the commit's end); ([], None) for anything else."""
        kind = data[:1]
        body = memoryview(data)[1:]
        if kind == b"B":
            self._final_lsn, stamp, self._xid = struct.unpack_from("!qqi", body)
            self._committed_at = stamp
            self._pending = []
        elif kind == b"R":
            self._relation(body)
        elif kind == b"I":
            (relid,) = struct.unpack_from("!i", body)
            after, _ = self._tuple(self.relations[relid], body, 5)
            self._pending.append(("c", self.relations[relid], None, after))
        elif kind == b"U":
            (relid,) = struct.unpack_from("!i", body)
            relation = self.relations[relid]
            before, offset = None, 4
            if body[offset : offset + 1].tobytes() in (b"K", b"O"):
                before, offset = self._tuple(relation, body, offset + 1)
            after, _ = self._tuple(relation, body, offset + 1)  # past 'N'
            self._pending.append(("u", relation, before, after))
        elif kind == b"D":
            (relid,) = struct.unpack_from("!i", body)
            before, _ = self._tuple(self.relations[relid], body, 5)
            self._pending.append(("d", self.relations[relid], before, None))
        elif kind == b"C":
            _flags, commit_lsn, end_lsn, _stamp = struct.unpack_from("!bqqq", body)
            return self._committed(commit_lsn), end_lsn
        return [], None

    def _committed(self, commit_lsn: int) -> list[Change]:
        at = EPOCH_2000 + dt.timedelta(microseconds=self._committed_at)
        ts_ms = int(at.timestamp() * 1000)
        changes = []
        for index, (op, relation, before, after) in enumerate(self._pending):
            source = {
                "connector": "postgresql",
                "db": self.database,
                "schema": relation.schema,
                "table": relation.table,
                "lsn": lsn_text(commit_lsn),
                "txId": self._xid,
                "ts_ms": ts_ms,
            }
            change = {"before": before, "after": after, "op": op, "source": source, "ts_ms": ts_ms}
            changes.append(Change(f"{lsn_text(commit_lsn)}:{index}", change))
        self._pending = []
        return changes

    def _relation(self, body: memoryview) -> None:
        (relid,) = struct.unpack_from("!i", body)
        offset = 4
        schema, offset = _string(body, offset)
        table, offset = _string(body, offset)
        offset += 1  # replica identity setting
        (count,) = struct.unpack_from("!h", body, offset)
        offset += 2
        columns = []
        for _ in range(count):
            offset += 1  # flags (part of the key)
            name, offset = _string(body, offset)
            oid, _typmod = struct.unpack_from("!ii", body, offset)
            offset += 8
            columns.append((name, oid))
        self.relations[relid] = Relation(schema, table, tuple(columns))

    @staticmethod
    def _tuple(relation: Relation, body: memoryview, offset: int) -> tuple[dict[str, Any], int]:
        (count,) = struct.unpack_from("!h", body, offset)
        offset += 2
        row: dict[str, Any] = {}
        for index in range(count):
            name, oid = relation.columns[index]
            kind = body[offset : offset + 1].tobytes()
            offset += 1
            if kind == b"n":
                row[name] = None
            elif kind == b"u":
                continue  # an unchanged TOAST value: not sent, so not known
            else:
                (length,) = struct.unpack_from("!i", body, offset)
                offset += 4
                row[name] = _convert(oid, body[offset : offset + length].tobytes().decode())
                offset += length
        return row, offset


def _string(body: memoryview, offset: int) -> tuple[str, int]:
    end = offset
    while body[end] != 0:
        end += 1
    return body[offset:end].tobytes().decode(), end + 1
