"""An agent card → one tool that asks the agent (decision 22: one tool per agent, not per skill).

An A2A message goes to the agent, not to one of its skills: the agent decides which skill
answers. So the skills become the tool's description — what an agent may ask, with the card's
examples — and the grant is the agent's. The input is what A2A messages carry: text (`message`)
and, when the agent takes JSON, structured `data`. The whole card rides along as the tool's
provenance, so a change to it quarantines the tool.
"""

from __future__ import annotations

from typing import Any

from a2a.types import AgentCard
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.connectors.a2a.card import CardProblem, card_form

ORIGIN = "message/send"
MAX_EXAMPLES = 3
TEXT_MODES = ("text/plain", "text/*", "*/*", "text")
JSON_MODES = ("application/json", "application/*", "*/*", "data")

_PARTS: dict[str, Any] = {
    "text": {"type": "string", "description": "The text parts, joined by blank lines"},
    "data": {"type": "array", "items": {}, "description": "The structured (JSON) parts, in order"},
    "files": {
        "type": "array",
        "description": "File parts: a URL, or the bytes in base64",
        "items": {
            "type": "object",
            "properties": {
                "name": {"type": "string"},
                "media_type": {"type": "string"},
                "url": {"type": "string"},
                "bytes_base64": {"type": "string"},
            },
        },
    },
}
OUTPUT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["text", "data", "files", "artifacts", "task_id", "context_id"],
    "properties": {
        **_PARTS,
        "artifacts": {
            "type": "array",
            "description": "What the agent produced (A2A artifacts)",
            "items": {
                "type": "object",
                "required": ["name", "text", "data", "files"],
                "properties": {"name": {"type": "string"}, "description": {"type": "string"}, **_PARTS},
            },
        },
        "task_id": {
            "type": ["string", "null"],
            "description": "The agent's task (null: it answered at once)",
        },
        "context_id": {"type": ["string", "null"]},
    },
}


def accepted_modes(card: AgentCard) -> tuple[bool, bool]:
    """Whether the agent takes text, and JSON: from its default input modes and its skills'."""
    modes = [m.lower() for m in card.default_input_modes] + [
        m.lower() for skill in card.skills for m in skill.input_modes
    ]
    if not modes:  # the card says nothing: A2A's own default is text
        return True, True
    text = any(m in TEXT_MODES or m.startswith("text/") for m in modes)
    json = any(m in JSON_MODES or m.endswith(("/json", "+json")) for m in modes)
    if not (text or json):
        raise CardProblem(
            f"the agent takes neither text nor JSON (input modes: {', '.join(sorted(set(modes)))})"
        )
    return text, json


def input_schema(card: AgentCard, max_length: int) -> dict[str, Any]:
    text, json = accepted_modes(card)
    properties: dict[str, Any] = {}
    if text:
        properties["message"] = {
            "type": "string",
            "minLength": 1,
            "maxLength": max_length,
            "description": f"What to ask {card.name}, in plain language, with everything it needs",
        }
    if json:
        properties["data"] = {
            "type": "object",
            "description": "Structured input (a JSON object), sent beside the message as a data part",
        }
    return {
        "type": "object",
        "properties": properties,
        "required": ["message"] if text else ["data"],
        "additionalProperties": False,
    }


def description(card: AgentCard) -> str:
    lines = [card.description.strip() or f"Ask the agent {card.name}."]
    if card.skills:
        lines += ["", f"{card.name} (an A2A agent) can:"]
        for skill in card.skills:
            line = f"- {skill.name or skill.id}: {skill.description.strip()}".rstrip(": ")
            if skill.examples:
                quoted = "; ".join(f'"{e}"' for e in list(skill.examples)[:MAX_EXAMPLES])
                line += f" For example: {quoted}"
            lines.append(line)
    lines += [
        "",
        "Each call is a new conversation: put everything the agent needs in one message. "
        "An agent that asks back is reported as an error naming its question.",
    ]
    return "\n".join(lines)


def agent_tool(card: AgentCard, name: str, backend: str, max_length: int) -> ToolSpec:
    tags = dict.fromkeys(["a2a", *(s.id for s in card.skills), *(t for s in card.skills for t in s.tags)])
    return ToolSpec(
        name=name,
        description=description(card),
        input_schema=input_schema(card, max_length),
        backend=backend,
        origin=ORIGIN,
        output_schema=OUTPUT_SCHEMA,
        # A2A says nothing of effects: a write until the operator says otherwise (tools.<name>.idempotent).
        annotations=ToolAnnotations(read_only=False, destructive=False, idempotent=False, open_world=True),
        tags=tuple(t for t in tags if t),
        provenance={"agent_card": card_form(card)},
    )
