"""`Prompt::"…"` and `Resource::"…"` in policies must name what is served: a misspelt name is
caught at load, not silently never matched."""

from __future__ import annotations

from collections.abc import Sequence

from pasarela.content.model import PROMPT_KIND, RESOURCE_KIND, ContentCatalog
from pasarela.errors import ConfigProblem
from pasarela.policy.sources import PolicySource, referenced_tools


def check_content_references(
    sources: Sequence[PolicySource], content: ContentCatalog, config_source: str
) -> list[ConfigProblem]:
    served = {(kind, name) for kind, name, _ in content.names()}
    problems = []
    for source in sources:
        for kind, what in ((PROMPT_KIND, "prompt"), (RESOURCE_KIND, "resource or resource template")):
            for name in sorted(referenced_tools(source, kind)):
                if (kind, name) not in served:
                    problems.append(
                        ConfigProblem(config_source, source.key_path, f'{kind}::"{name}" names no {what}')
                    )
    return problems
