"""Scrub every known secret value out of text before it is logged or returned."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from typing import Any

MASK = "***"
# Shorter values would mask ordinary words; nothing this short should be a credential.
MIN_SECRET_LENGTH = 6


class Redactor:
    """Knows every secret the gateway resolved (backend credentials, plaintext API keys)."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._values: set[str] = set()
        self._pattern: re.Pattern[str] | None = None
        self._lock = threading.Lock()
        self.add(*values)

    def add(self, *values: str) -> None:
        with self._lock:
            fresh = {v for v in values if len(v) >= MIN_SECRET_LENGTH} - self._values
            if not fresh:
                return
            self._values |= fresh
            # Longest first, so a secret containing another is masked whole.
            ordered = sorted(self._values, key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in ordered))

    def absorb(self, other: Redactor) -> Redactor:
        """Learn every secret `other` knows (on reload: old values stay masked after a rotation)."""
        self.add(*other._values)
        return self

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(MASK, text)

    def excerpt(self, text: str | bytes, limit: int) -> str:
        """The first `limit` characters of `text`, redacted *before* it is cut.

        Cutting first would leave the prefix of a secret that straddles the cut unmasked. Only
        `limit` plus the longest secret's length is read, so a huge body costs no more.
        """
        reach = limit + max((len(v) for v in self._values), default=0)
        if isinstance(text, bytes):
            text = text[: reach * 4].decode("utf-8", errors="replace")  # at most 4 bytes a character
        return self.redact(text[:reach])[:limit]

    def scrub(self, value: Any) -> Any:
        """`value` (any JSON) with every known secret masked in its strings; as is if none are known."""
        if self._pattern is None:
            return value
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, dict):
            return {self.scrub(k): self.scrub(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.scrub(item) for item in value]
        return value

    def __contains__(self, text: object) -> bool:
        return isinstance(text, str) and text in self._values
