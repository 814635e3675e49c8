"""Make any record storable, so no field an agent controls can fail a batch.

A tool name, a request id or a principal can come from an agent (an unknown tool's name, an odd
JSON-RPC id). Each string is cut to its column's length (with a marker), and characters some
databases refuse (NUL in PostgreSQL text, lone surrogates in UTF-8) are replaced. The chain's
hash covers the stored form, so what `audit verify` reads is what was hashed.
"""

from __future__ import annotations

from typing import Any

import orjson
from sqlalchemy import Float, String, Text

from pasarela.audit.chain import CHAINED_FIELDS, OPTIONAL_CHAINED_FIELDS
from pasarela.state.tables import audit_records

CUT = "…"
_LENGTHS: dict[str, int | None] = {
    column.name: column.type.length if isinstance(column.type, String) else None
    for column in audit_records.columns
}
_FLOATS = frozenset(column.name for column in audit_records.columns if isinstance(column.type, Float))


def _storable(text: str) -> str:
    text = text.replace("\x00", "\ufffd")
    try:
        text.encode()
    except UnicodeEncodeError:
        text = text.encode("utf-8", "backslashreplace").decode()
    return text


def fit(record: dict[str, Any]) -> dict[str, Any]:
    # Every row of a batch has the same keys: a multi-row INSERT takes its columns from the
    # first row, so an optional field present only in a later row would be lost (yet hashed).
    fitted = dict.fromkeys(OPTIONAL_CHAINED_FIELDS) | record
    for name, value in fitted.items():
        if name in _FLOATS and isinstance(value, int) and not isinstance(value, bool):
            fitted[name] = float(value)  # what the column gives back, so the hash still matches
        if not isinstance(value, str):
            continue
        text = _storable(value)
        length = _LENGTHS.get(name)
        if length is not None and len(text) > length:
            text = text[: length - len(CUT)] + CUT
        fitted[name] = text
    return fitted


def stand_in(record: dict[str, Any], error: BaseException) -> dict[str, Any]:
    """What is stored for a record the database refused: who, when, what outcome — and why not more."""
    reason = f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"[:200]
    kept = {name: record.get(name) for name in (*CHAINED_FIELDS, *OPTIONAL_CHAINED_FIELDS) if name != "seq"}
    for name, value in kept.items():
        column = audit_records.c[name]
        text = isinstance(column.type, String | Text)
        if value is None:
            kept[name] = None if column.nullable else ("" if text else 0)
        elif text and not isinstance(value, str):
            kept[name] = str(value)
        elif not text and (isinstance(value, bool) or not isinstance(value, int | float)):
            kept[name] = None if column.nullable else 0
    kept["arguments"] = orjson.dumps({"_unrecordable": _storable(reason)}).decode()
    return fit(kept)
