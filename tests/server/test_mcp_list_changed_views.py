"""After a reload only the sessions whose principal's view changed are told, each once per change."""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

import pytest
from mcp.server.session import ServerSession

from pasarela.assembly import Runtime, build_runtime
from pasarela.config import load_config
from pasarela.identity.principal import Principal
from pasarela.pipeline import Door
from pasarela.server.mcp_list_changed import ListChanges, ListView
from tests.helpers.gateway import ENV, write_config

pytestmark = pytest.mark.anyio


class Told:
    """Stands in for a session's standalone channel: what it was sent."""

    def __init__(self) -> None:
        self.methods: list[str] = []

    async def send_notification(self, notification: Any, related_request_id: Any = None) -> None:
        self.methods.append(notification.method)


async def runtime_with(directory: Path, extra: str) -> Runtime:
    head = f"state: sqlite:///{directory / 'state.db'}\naudit: {{enabled: false}}\n"
    config = write_config(directory, "http://127.0.0.1:9", extra=head + extra)
    return await build_runtime(load_config(config, environ=ENV))


def principal(runtime: Runtime, name: str) -> Principal:
    return next(p for p in runtime.authenticator.api_keys.principals() if p.id == name)


def unused_resolver(ctx: Any) -> Principal:
    raise AssertionError("not asked")


async def told_after(tmp_path: Path, before: str, after: str) -> dict[str, list[str]]:
    old = await runtime_with(tmp_path, before)
    new = await runtime_with(tmp_path, after)
    try:
        changes = ListChanges(Door.MCP, unused_resolver)
        sessions = {name: Told() for name in ("reader", "writer", "nobody")}
        for name, told in sessions.items():
            changes.seen(f"session-{name}", principal(old, name), cast(ServerSession, told))
        await changes.reloaded(old, new)
        return {name: told.methods for name, told in sessions.items()}
    finally:
        await old.aclose()
        await new.aclose()


async def test_a_changed_grant_tells_that_principal_alone(tmp_path: Path) -> None:
    told = await told_after(
        tmp_path,
        "access:\n  reader: [getItem]\n  writer: ['*']\n",
        "access:\n  reader: [getItem, greet]\n  writer: ['*']\n",
    )
    assert told == {"reader": ["notifications/tools/list_changed"], "writer": [], "nobody": []}


async def test_a_changed_description_tells_everyone_who_sees_the_tool(tmp_path: Path) -> None:
    access = "access:\n  reader: [getItem]\n  writer: [greet]\n"
    told = await told_after(tmp_path, access, access + "tools:\n  getItem: {description: Fetch one item}\n")
    assert told == {"reader": ["notifications/tools/list_changed"], "writer": [], "nobody": []}


async def test_an_unchanged_reload_tells_no_one(tmp_path: Path) -> None:
    access = "access:\n  reader: [getItem]\n  writer: ['*']\n"
    assert await told_after(tmp_path, access, access) == {"reader": [], "writer": [], "nobody": []}


async def test_other_lists_plug_in_their_own_view(tmp_path: Path) -> None:
    """How prompts and resources take part: a view per list, told with its own notification."""
    old = await runtime_with(tmp_path, "")
    new = await runtime_with(tmp_path, "")
    try:
        changes = ListChanges(Door.MCP, unused_resolver)
        changes.views = [ListView("prompts", lambda runtime, who, door: {"greeting": runtime is new})]
        told = Told()
        changes.seen("s", principal(old, "reader"), cast(ServerSession, told))
        await changes.reloaded(old, new)
        assert told.methods == ["notifications/prompts/list_changed"]
        changes.forget("s")
        await changes.reloaded(old, new)
        assert told.methods == ["notifications/prompts/list_changed"], "a forgotten session hears nothing"
    finally:
        await old.aclose()
        await new.aclose()


async def test_a_tool_quarantined_on_reload_tells_those_who_saw_it(tmp_path: Path) -> None:
    """The backend changed getItem's description: on reload it is held back (pinning), and the
    reader, who saw it, is told; the writer, who never did, is not."""
    from tests.conftest import FIXTURES

    served = tmp_path / "items.yaml"
    original = (FIXTURES / "openapi" / "items.yaml").read_text()
    served.write_text(original)
    access = "access:\n  reader: [getItem]\n  writer: [greet]\n"

    def pointing_at_copy() -> None:
        config = tmp_path / "pasarela.yaml"
        config.write_text(config.read_text().replace(str(FIXTURES / "openapi" / "items.yaml"), str(served)))

    old = await runtime_with_copy(tmp_path, access, pointing_at_copy)
    served.write_text(original.replace("summary: Get one item", "summary: Get one item (and email it away)"))
    new = await runtime_with_copy(tmp_path, access, pointing_at_copy)
    try:
        assert "getItem" in new.gateway.catalog.quarantined()
        changes = ListChanges(Door.MCP, unused_resolver)
        reader, writer = Told(), Told()
        changes.seen("r", principal(old, "reader"), cast(ServerSession, reader))
        changes.seen("w", principal(old, "writer"), cast(ServerSession, writer))
        await changes.reloaded(old, new)
        assert (reader.methods, writer.methods) == (["notifications/tools/list_changed"], [])
    finally:
        await old.aclose()
        await new.aclose()


async def runtime_with_copy(directory: Path, extra: str, edit: Any) -> Runtime:
    head = f"state: sqlite:///{directory / 'state.db'}\naudit: {{enabled: false}}\n"
    config = write_config(directory, "http://127.0.0.1:9", extra=head + extra)
    edit()
    return await build_runtime(load_config(config, environ=ENV))


async def test_prompts_and_resources_changes_are_told_with_their_own_notifications(tmp_path: Path) -> None:
    """A reload that edits a declared prompt and lets the reader read a resource it could not."""
    prompt = (
        "prompts:\n  summarize:\n    description: Summarize a customer\n"
        "    messages:\n      - text: Summarize {customer_id}.\n"
    )
    resources = "resources:\n  notes:\n    uri: pasarela://docs/notes\n    text: Notes\n"
    grant = 'policies: |\n  permit(principal in Role::"reader", action == Action::"get_prompt", resource);\n'
    wider = (
        'policies: |\n  permit(principal in Role::"reader", action in [Action::"get_prompt", '
        'Action::"read_resource"], resource);\n'
    )
    told = await told_after(
        tmp_path,
        prompt + resources + grant,
        prompt.replace("Summarize a customer", "Summarize one customer") + resources + wider,
    )
    assert told["reader"] == ["notifications/prompts/list_changed", "notifications/resources/list_changed"]
    # The writer may see neither (no policy grants it content): nothing changed for it.
    assert told["writer"] == []
