"""Load-time checks of composites: every mistake names its key path."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.errors import ConfigError
from tests.helpers.gateway import gateway_for

pytestmark = pytest.mark.anyio

BROKEN = """composites:
  a:
    description: broken in every way a step can be
    steps:
      unknown: {tool: no_such_tool}
      ref: {tool: greet, arguments: {name: steps.nowhere.name}}
      parse: {tool: greet, arguments: {name: "input.name["}}
      whole: {tool: greet, arguments: {name: steps}}
    result: "steps.ref"
  loop_one:
    description: waits for itself through another step
    steps:
      x: {tool: greet, arguments: {name: steps.y.text}}
      y: {tool: greet, arguments: {name: steps.x.text}}
    result: steps.x
  ping: {description: calls pong, steps: {s: {tool: pong}}, result: steps.s}
  pong: {description: calls ping, steps: {s: {tool: ping}}, result: steps.s}
  greet: {description: clashes with a tool, steps: {s: {tool: add_numbers}}, result: steps.s}
  shapeless: {description: no such schema, steps: {s: {tool: add_numbers}}, result: steps.s, output: nope@1}
  fan_over_text:
    description: fans out over what the schemas say is not a list
    input: {type: object, properties: {name: {type: string}}}
    steps:
      hello: {tool: greet, arguments: {name: "'x'"}}
      each_input: {tool: greet, for_each: input.name, arguments: {name: item}}
      each_text: {tool: greet, for_each: steps.hello.text, arguments: {name: item}}
    result: steps.hello
"""


async def test_every_composite_mistake_is_named_by_its_key_path(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(tmp_path, "http://127.0.0.1:9", extra=BROKEN):
            pass
    found = {p.path: p.message for p in caught.value.problems}
    assert found["composites.a.steps.unknown.tool"] == "no tool named 'no_such_tool'"
    assert found["composites.a.steps.ref.arguments.name"].startswith("no step named 'nowhere'")
    assert found["composites.a.steps.parse.arguments.name"].startswith("not a valid JMESPath expression")
    assert (
        found["composites.a.steps.whole.arguments.name"] == "name the step whose result is read: steps.<name>"
    )
    assert found["composites.loop_one.steps"] in (
        "steps wait for each other: x → y → x",
        "steps wait for each other: y → x → y",
    )
    assert found["composites.ping"].startswith("composites call each other in a loop: ping → pong → ping")
    assert found["composites.greet"] == "a backend already has a tool named 'greet'"
    assert found["composites.shapeless.output"].startswith("no schema 'nope@1'")
    assert found["composites.fan_over_text.steps.each_input.for_each"] == (
        "input.name is string in the composite's input schema, not a list"
    )
    assert found["composites.fan_over_text.steps.each_text.for_each"] == (
        "steps.hello.text is string in greet's output schema, not a list"
    )


def test_explain_shows_the_waves(tmp_path: Path) -> None:
    from tests.helpers.gateway import ENV, write_config
    from tests.helpers.processes import run_pasarela
    from tests.orchestration.test_composites import BACKENDS, COMPOSITES

    config = write_config(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=COMPOSITES)
    done = run_pasarela("composites", "explain", "overview", "-c", str(config), env=ENV)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("overview: 5 step(s) in 2 wave(s)")
    assert "  wave 1 — run together:" in lines
    assert "    each: hold, for each item (2 at once)  ← waits for list" in lines
    missing = run_pasarela("composites", "explain", "nope", "-c", str(config), env=ENV)
    assert missing.returncode == 1 and "no composite named 'nope'" in missing.stderr


def test_call_verbose_prints_the_step_timeline(tmp_path: Path) -> None:
    from tests.helpers.gateway import ENV, write_config
    from tests.helpers.processes import run_pasarela
    from tests.orchestration.test_composites import BACKENDS, COMPOSITES

    config = write_config(tmp_path, "http://127.0.0.1:9", backends=BACKENDS, extra=COMPOSITES)
    done = run_pasarela("call", "partial", "--as", "reader", "--verbose", "-c", str(config), env=ENV)
    assert done.returncode == 0, done.stderr
    lines = done.stderr.splitlines()
    assert "3 step(s), partial:" in lines
    timeline = lines[lines.index("3 step(s), partial:") :]
    assert any(line.split()[:4] == ["failed", "score", "→", "fail_loudly"] for line in timeline)
    assert any("write → createItem" in line and "(denied)" in line for line in timeline)
