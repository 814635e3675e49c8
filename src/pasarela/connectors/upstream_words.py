"""An upstream's error in its own words: the human-readable message inside an error body.

A model acts on the message it reads. "Product not found" tells it what to do next; "retail
answered HTTP 404 to get_product" does not. So a problem's `detail` leads with what the
backend said (known secrets masked, cut short) and ends with where it came from; the problem's
other fields (`code`, `upstream_status`, `upstream_body`) stay for programs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pasarela.secrets import Redactor

MAX_SAID = 500  # characters of the upstream's message in a detail
# Where error bodies keep their message, most telling first: RFC 9457 problem documents
# (`detail`, then `title`), common API shapes (`message`, `error`, `error_description`,
# `errorMessage`, `description`), and lists of errors (GraphQL, JSON:API, many REST APIs).
MESSAGE_KEYS = ("detail", "message", "error_description", "errorMessage", "error", "description", "title")
LIST_KEYS = ("errors", "details")


def said_in(body: Any, depth: int = 0) -> str | None:
    """The message a JSON error body carries, if it carries one a person could read."""
    if depth > 3:
        return None
    if isinstance(body, str):
        text = body.strip()
        return text or None
    if isinstance(body, Mapping):
        for key in MESSAGE_KEYS:
            found = said_in(body[key], depth + 1) if key in body else None
            if found:
                return found
        for key in LIST_KEYS:
            items = body.get(key)
            if isinstance(items, list) and items:
                found = said_in(items[0], depth + 1)
                if found:
                    return found if len(items) == 1 else f"{found} (and {len(items) - 1} more)"
    return None


def in_their_words(said: str | None, context: str, redactor: Redactor) -> str:
    """`"<what the upstream said> (<context>)"`, or just `context` when it said nothing."""
    if not said:
        return context
    return f"{redactor.excerpt(said, MAX_SAID)} ({context})"
