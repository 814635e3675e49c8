"""`resources:` and `prompts:` refused at load with the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.assembly import build_runtime
from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.helpers.gateway import ENV, write_config

pytestmark = pytest.mark.anyio


async def problems_of(tmp_path: Path, extra: str) -> list[str]:
    config = write_config(
        tmp_path, "http://127.0.0.1:9", extra=f"state: sqlite:///{tmp_path / 's.db'}\n{extra}"
    )
    loaded = load_config(config, environ=ENV)
    with pytest.raises(ConfigError) as caught:
        await build_runtime(loaded, read_only=True)  # refused: nothing is left open
    return [f"{p.path}: {p.message}" for p in caught.value.problems]


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "resources:\n  leak: {uri: 'x://a', file: ../outside.txt}\n",
            "resources.leak.file: '../outside.txt' is outside the configuration's directory",
        ),
        (
            "resources:\n  gone: {uri: 'x://a', file: missing.md}\n",
            "resources.gone.file: no file 'missing.md'",
        ),
        (
            "resources:\n  w: {uri: 'x://a', tool: {name: createItem}}\n",
            "resources.w.tool.name: 'createItem' is not read-only",
        ),
        (
            "resources:\n  n: {uri: 'x://a', tool: {name: nothing}}\n",
            "resources.n.tool.name: 'nothing' names no tool",
        ),
        (
            "resources:\n  t: {uri_template: 'x://{who}', tool: {name: greet}}\n",
            "resources.t.uri_template: {who} is not an argument of tool 'greet'",
        ),
        (
            "resources:\n  t: {uri_template: 'x://{name}', tool: {name: greet}, variables: {other: {examples: [a]}}}\n",
            "resources.t.variables.other: the template has no {other}",
        ),
        (
            "resources:\n  t: {uri_template: 'x://{name', tool: {name: greet}}\n",
            "resources.t.uri_template: not a URI template",
        ),
        (
            "resources:\n  a: {uri: 'x://same', text: a}\n  b: {uri: 'x://same', text: b}\n",
            "resources.b.uri: 'x://same' is also resource 'a'",
        ),
        (
            'policies: |\n  permit(principal, action, resource == Prompt::"nope");\n',
            'Prompt::"nope" names no prompt',
        ),
    ],
)
async def test_bad_content_is_refused_naming_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    (tmp_path.parent / "outside.txt").write_text("secret")
    problems = await problems_of(tmp_path, extra)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ("resources:\n  x: {uri: 'x://a', text: a, file: b}\n", "expected exactly one content"),
        ("resources:\n  x: {text: a}\n", "expected exactly one address"),
        (
            "resources:\n  x: {uri_template: 'x://{a}', text: a}\n",
            "a resource template's content is a tool's result",
        ),
        ("prompts:\n  p: {messages: []}\n", "messages"),
    ],
)
async def test_bad_shapes_are_refused_naming_the_key(tmp_path: Path, extra: str, expected: str) -> None:
    config = write_config(tmp_path, "http://127.0.0.1:9", extra=extra)
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ=ENV)
    assert any(expected in str(p) for p in caught.value.problems), caught.value.problems
