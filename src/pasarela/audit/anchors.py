"""Signed chain heads kept outside the database: the trail's anchor file.

In the spirit of Certificate Transparency's signed tree heads: every checkpoint the writer signs
is also appended, as one JSON line, to a file the database cannot reach. Someone who can rewrite
the database but has neither the key nor this file cannot make `audit verify --anchors` pass
after truncating, wiping or rewriting records an anchor already covers.

    {"seq": 1042, "hash": "9f…", "at": 1764470000.12, "signature": "ab…"}
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import orjson


class AnchorFileError(ValueError):
    """An anchor file that cannot be read as anchors (names the file and line)."""


@dataclass(frozen=True, slots=True)
class Anchor:
    seq: int
    hash: str
    at: float
    signature: str
    where: str  # file:line, for messages


class AnchorLog:
    """Appends signed heads to one file; each line is flushed and fsynced before returning."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def create(self) -> None:
        """Make the file exist from the start, so a deleted file is noticed, not mistaken for 'no anchors yet'."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.touch(exist_ok=True)

    def append(self, seq: int, chain_hash: str, at: float, signature: str) -> None:
        line = orjson.dumps({"seq": seq, "hash": chain_hash, "at": at, "signature": signature}) + b"\n"
        # O_APPEND: replicas sharing a file never interleave inside a line.
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)


def read_anchors(paths: Iterable[Path]) -> list[Anchor]:
    """Every anchor in `paths`, by seq. A missing file or a malformed line is an AnchorFileError."""
    anchors: list[Anchor] = []
    for path in paths:
        try:
            text = path.read_bytes()
        except OSError as exc:
            raise AnchorFileError(f"{path}: cannot read the anchor file ({exc.strerror or exc})") from None
        for number, raw in enumerate(text.splitlines(), start=1):
            if not raw.strip():
                continue
            where = f"{path}:{number}"
            try:
                entry = orjson.loads(raw)
                anchor = Anchor(
                    int(entry["seq"]), str(entry["hash"]), float(entry["at"]), str(entry["signature"]), where
                )
            except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                raise AnchorFileError(
                    f"{where}: not an anchor (expected a JSON object with seq, hash, at and signature)"
                ) from None
            anchors.append(anchor)
    return sorted(anchors, key=lambda a: a.seq)
