"""The demo's tool API for OpenAPI and Gemini clients: `/v1/openapi.json` for each bot is valid
OpenAPI 3.1 with one operation per tool it may call, and `format=gemini` turns the demo's
`type: [string, null]` fields (the agreed shapes of customers, accounts, transactions, loans:
each tool's promised `response`) into one type and `nullable`, within Gemini's rules."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate

from tests.e2e.test_demo import running_demo
from tests.helpers.gemini_rules import declaration_problems

pytestmark = [pytest.mark.anyio, pytest.mark.e2e]


def nullable_fields(schema: Any, path: str = "") -> dict[str, str]:
    """Every `type: [X, null]` in a schema, by path, with X."""
    found: dict[str, str] = {}
    if isinstance(schema, dict):
        kind = schema.get("type")
        if isinstance(kind, list) and "null" in kind and len(kind) == 2:
            found[path] = next(k for k in kind if k != "null")
        for key, value in schema.get("properties", {}).items():
            found.update(nullable_fields(value, f"{path}.{key}"))
        if "items" in schema:
            found.update(nullable_fields(schema["items"], f"{path}[]"))
    return found


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    for part in path.strip(".").split("."):
        for step in part.split("[]"):
            if step:
                schema = schema["properties"][step]
        schema = schema["items"] if part.endswith("[]") else schema
    return schema


async def test_the_demo_as_openapi_and_gemini(tmp_path: Path) -> None:
    with running_demo(tmp_path) as demo:
        async with httpx.AsyncClient(base_url=demo.rest_url, timeout=30) as http:
            assert {"support-bot", "sales-bot", "compliance-bot"} <= set(demo.keys)
            for bot, key in demo.keys.items():
                headers = {"Authorization": f"Bearer {key}"}
                native = (await http.get("/tools", headers=headers)).json()["tools"]
                gemini = (await http.get("/tools?format=gemini", headers=headers)).json()["tools"]
                document = (await http.get("/openapi.json", headers=headers)).json()
                validate(document)
                calls = [
                    p.removeprefix("/v1/tools/").removesuffix(":call")
                    for p in document["paths"]
                    if p.endswith(":call")
                ]
                assert calls == [t["name"] for t in native], bot
                assert [p for t in gemini for p in declaration_problems(t)] == [], bot
                by_name = {t["name"]: t for t in gemini}
                checked = 0
                for tool in native:
                    declaration = by_name[tool["name"]]
                    forms = [(tool["inputSchema"], declaration.get("parameters"))]
                    if "response" in declaration:
                        forms.append((tool["outputSchema"], declaration["response"]))
                    for schema, converted_schema in forms:
                        for path, kind in nullable_fields(schema).items():
                            assert converted_schema is not None
                            converted = at(converted_schema, path)
                            assert converted["type"] == kind, (bot, tool["name"], path)
                            assert converted["nullable"] is True, (bot, tool["name"], path)
                            checked += 1
                assert checked > 0 or not native, (
                    bot
                )  # e.g. customer@1's email, phone, customer_since (ops-admin has no tools)
