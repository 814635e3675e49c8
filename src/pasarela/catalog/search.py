"""Lexical search over a catalog: BM25 (bm25s) on each tool's name, description and parameters.

Names are split into words (`CreateIncomingPhoneNumber`, `get_customer_info`) and counted twice:
a request's words match a tool's name more surely than its prose. Words are stemmed (PyStemmer)
so "messages" finds "message". One index per catalog; a search scores every tool and keeps the
best of those the caller may see.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from pasarela.catalog.spec import ToolSpec

MAX_QUERY_CHARS = 1000  # a search is a sentence, not a document
_WORD_BOUNDARY = re.compile(r"(?<=[a-z0-9])(?=[A-Z])|(?<=[A-Z])(?=[A-Z][a-z])|[_\-.:/]+")
NAME_WEIGHT = 2


def words_of_name(name: str) -> str:
    """`CreateIncomingPhoneNumber` → "Create Incoming Phone Number"; `get_customer_info` → "get customer info"."""
    return " ".join(part for part in _WORD_BOUNDARY.split(name) if part)


def tool_text(tool: ToolSpec) -> str:
    """What a tool is found by: its name (twice), description, and its parameters' names and
    descriptions."""
    name = words_of_name(tool.name)
    parts = [name] * NAME_WEIGHT + [tool.description]
    properties = tool.input_schema.get("properties")
    if isinstance(properties, Mapping):
        for key, schema in properties.items():
            parts.append(words_of_name(str(key)))
            if isinstance(schema, Mapping) and isinstance(schema.get("description"), str):
                parts.append(schema["description"])
    return "\n".join(parts)


class ToolIndex:
    """BM25 over one catalog's tools. bm25s and PyStemmer are imported only when one is built."""

    def __init__(self, tools: Sequence[ToolSpec]) -> None:
        import bm25s
        import Stemmer

        self._bm25s: Any = bm25s
        self._stemmer: Any = Stemmer.Stemmer("english")
        self.tools = list(tools)
        self._position = {tool.name: i for i, tool in enumerate(self.tools)}
        self._retriever: Any = bm25s.BM25()
        if self.tools:
            corpus = self._tokenize([tool_text(t) for t in self.tools], ids=True)
            self._retriever.index(corpus, show_progress=False)

    def _tokenize(self, texts: list[str], *, ids: bool) -> Any:
        return self._bm25s.tokenize(
            texts, stopwords="en", stemmer=self._stemmer, return_ids=ids, show_progress=False
        )

    def search(self, query: str, allowed: Collection[str], limit: int) -> list[tuple[ToolSpec, float]]:
        """The `limit` best tools among `allowed` (names) for `query`, best first, with scores;
        only tools sharing a word with the query."""
        if not self.tools or limit < 1:
            return []
        [tokens] = self._tokenize([query[:MAX_QUERY_CHARS]], ids=False)
        if not tokens:
            return []
        scores = self._retriever.get_scores(tokens)
        ranked = sorted(
            (
                (float(scores[self._position[name]]), self._position[name])
                for name in allowed
                if name in self._position
            ),
            key=lambda pair: (-pair[0], pair[1]),
        )
        return [(self.tools[i], score) for score, i in ranked[:limit] if score > 0]
