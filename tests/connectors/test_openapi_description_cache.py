"""An unchanged description is not parsed again; a bad, stale or unsafe cache entry is never used."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path
from typing import Any

import pytest

from pasarela.assembly import build_runtime
from pasarela.catalog.description_cache import DescriptionCache, default_directory
from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import OpenApiBackend
from pasarela.config.loader import load_config, load_config_text
from pasarela.connectors.openapi import OpenApiConnector
from pasarela.connectors.openapi import cache as entries
from pasarela.connectors.openapi import connector as connector_module
from pasarela.connectors.openapi.document import parse_document
from pasarela.connectors.openapi.operations import Operation
from pasarela.errors import ConfigError
from pasarela.secrets import Redactor
from tests.conftest import TWILIO_SPECS
from tests.helpers.gateway import ENV
from tests.helpers.processes import run_pasarela

pytestmark = pytest.mark.anyio

SPEC = """openapi: 3.0.3
info: {title: Things, version: "1"}
servers: [{url: "https://things.example/v1"}]
paths:
  /things/{id}:
    get:
      operationId: getThing
      summary: One thing
      parameters:
        - {name: id, in: path, required: true, schema: {type: string}}
        - {name: X-Trace, in: header, schema: {type: string}}
      responses:
        "200":
          description: ok
          content: {application/json: {schema: {$ref: "#/components/schemas/Thing"}}}
    put:
      operationId: putThing
      requestBody:
        content: {application/x-www-form-urlencoded: {schema: {$ref: "#/components/schemas/Thing"}}}
      parameters: [{name: id, in: path, required: true, schema: {type: string}}]
      responses: {"204": {description: done}}
components:
  schemas:
    Thing:
      type: object
      required: [name]
      properties:
        name: {type: string, nullable: true}
        size: {type: integer, minimum: 0}
        parts: {type: array, items: {$ref: "#/components/schemas/Thing"}}
"""


class Parses:
    """Counts how often the connector parses a description."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        real = parse_document

        def counting(content: Any, location: str) -> Any:
            self.count += 1
            return real(content, location)

        monkeypatch.setattr(connector_module, "parse_document", counting)  # what load() calls


def make(
    spec: Path, directory: Path, *, redactor: Redactor | None = None, **settings: Any
) -> OpenApiConnector:
    return OpenApiConnector(
        "things",
        OpenApiBackend(openapi=str(spec), **settings),
        base_dir=spec.parent,
        redactor=redactor or Redactor(),
        source="test.yaml",
        cache=DescriptionCache(directory, redactor or Redactor()),
    )


async def load(spec: Path, directory: Path, **kwargs: Any) -> tuple[list[ToolSpec], OpenApiConnector]:
    c = make(spec, directory, **kwargs)
    try:
        return await c.load(), c
    finally:
        await c.aclose()


def operations(c: OpenApiConnector) -> dict[str, Operation]:
    return c._operations


@pytest.fixture
def spec(tmp_path: Path) -> Path:
    path = tmp_path / "things.yaml"
    path.write_text(SPEC)
    return path


async def test_second_load_reads_the_cache_instead_of_parsing(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = Parses(monkeypatch)
    cache_dir = tmp_path / "cache"
    first, c1 = await load(spec, cache_dir)
    assert parses.count == 1
    assert (cache_dir / "openapi-things.json").is_file()

    second, c2 = await load(spec, cache_dir)
    assert parses.count == 1, "an unchanged description must not be parsed again"
    assert second == first
    assert operations(c2) == operations(c1)
    assert c2._base_url == c1._base_url == "https://things.example/v1"


async def test_cached_tools_equal_parsed_tools_for_real_descriptions(tmp_path: Path) -> None:
    for source in sorted(TWILIO_SPECS.glob("twilio_*.json")):
        spec = tmp_path / source.name
        spec.write_bytes(source.read_bytes())
        parsed, c1 = await load(spec, tmp_path / "cache")
        cached, c2 = await load(spec, tmp_path / "cache")
        assert cached == parsed
        assert operations(c2) == operations(c1)
        assert c2._base_url == c1._base_url


async def test_base_url_and_location_are_applied_afresh(spec: Path, tmp_path: Path) -> None:
    await load(spec, tmp_path / "cache")
    _, c = await load(spec, tmp_path / "cache", base_url="http://127.0.0.1:9/other")
    assert c._base_url == "http://127.0.0.1:9/other"
    assert b"127.0.0.1" not in (tmp_path / "cache" / "openapi-things.json").read_bytes()


async def test_changed_description_is_parsed_again(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = Parses(monkeypatch)
    await load(spec, tmp_path / "cache")
    spec.write_text(SPEC.replace("summary: One thing", "summary: One thing, changed"))
    tools, _ = await load(spec, tmp_path / "cache")
    assert parses.count == 2
    assert {t.name: t.description for t in tools}["getThing"] == "One thing, changed"
    await load(spec, tmp_path / "cache")
    assert parses.count == 2, "the changed description's entry replaced the old one"


async def test_other_code_never_trusts_an_entry(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parses = Parses(monkeypatch)
    await load(spec, tmp_path / "cache")
    monkeypatch.setattr(entries, "fingerprint", lambda: "another version of pasarela")
    await load(spec, tmp_path / "cache")
    assert parses.count == 2


def _corruptions(raw: bytes) -> dict[str, bytes]:
    header, _, body = raw.partition(b"\n")
    flipped = bytearray(body)
    flipped[len(flipped) // 2] ^= 0x01
    fake_body = json.dumps({"tools": [{"name": 1}]}).encode()
    forged = json.dumps({**json.loads(header), "sha256": hashlib.sha256(fake_body).hexdigest()}).encode()
    return {
        "empty": b"",
        "truncated": raw[: len(raw) // 2],
        "header only": header,
        "flipped bit": header + b"\n" + bytes(flipped),
        "edited body, still JSON": header + b"\n" + body.replace(b"One thing", b"Evil thing"),
        "garbage header": b"\x00\xff not json\n" + body,
        "header is a list": b"[1, 2]\n" + body,
        "wrong format": header.replace(b'"format":1', b'"format":99') + b"\n" + body,
        "well-formed but not an entry": forged + b"\n" + fake_body,
        "binary noise": bytes(range(256)) * 10,
    }


@pytest.mark.parametrize("kind", list(_corruptions(b"{}\nOne thing")))
async def test_a_corrupt_entry_is_ignored_and_rewritten(
    kind: str, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache_dir = tmp_path / "cache"
    good, _ = await load(spec, cache_dir)
    entry = cache_dir / "openapi-things.json"
    entry.write_bytes(_corruptions(entry.read_bytes())[kind])
    parses = Parses(monkeypatch)

    tools, _ = await load(spec, cache_dir)
    assert tools == good
    assert parses.count == 1, "a corrupt entry falls back to parsing"
    await load(spec, cache_dir)
    assert parses.count == 1, "and is rewritten, so the next load uses the cache again"


async def test_an_unwritable_directory_only_costs_the_cache(spec: Path, tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the cache directory should be")
    tools, _ = await load(spec, blocker / "cache")
    assert [t.name for t in tools] == ["getThing", "putThing"]


NOT_JSON = {
    "NaN": "minimum: .nan",
    "a date": "example: 2024-01-02",
    "an integer key": "properties: {200: {type: string}}",
    "binary": "default: !!binary aGVsbG8=",
}


@pytest.mark.parametrize("value", list(NOT_JSON.values()), ids=list(NOT_JSON))
async def test_values_json_cannot_hold_exactly_are_not_cached(
    value: str, spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spec.write_text(SPEC.replace("size: {type: integer, minimum: 0}", f"size: {{type: integer, {value}}}"))
    parses = Parses(monkeypatch)
    first, _ = await load(spec, tmp_path / "cache")
    assert not (tmp_path / "cache" / "openapi-things.json").exists()
    second, _ = await load(spec, tmp_path / "cache")
    assert parses.count == 2
    assert repr(second) == repr(first)


async def test_integers_beyond_64_bits_are_cached_exactly(
    spec: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    huge = 2**70
    spec.write_text(SPEC.replace("minimum: 0", f"minimum: -{huge}, maximum: {huge}"))
    parses = Parses(monkeypatch)
    first, _ = await load(spec, tmp_path / "cache")
    second, _ = await load(spec, tmp_path / "cache")
    assert parses.count == 1
    size = second[0].output_schema["$defs"]["Thing"]["properties"]["size"]  # type: ignore[index]
    assert size["maximum"] == huge and type(size["maximum"]) is int
    assert second == first


async def test_a_description_holding_a_known_secret_is_not_cached(spec: Path, tmp_path: Path) -> None:
    secret = "s3cr3t-value-from-the-vault"
    spec.write_text(SPEC.replace("summary: One thing", f"summary: One thing {secret}"))
    await load(spec, tmp_path / "cache", redactor=Redactor([secret]))
    assert not (tmp_path / "cache" / "openapi-things.json").exists()


def test_concurrent_writers_never_leave_a_half_entry(tmp_path: Path) -> None:
    cache = DescriptionCache(tmp_path / "cache", Redactor())
    payloads = {f"key{n}": {"n": n, "filler": "x" * 200_000} for n in range(6)}
    seen: list[Any] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            for key in payloads:
                found = cache.get("openapi", "things", key)
                if found is not None:
                    seen.append((key, found))

    def writer(key: str) -> None:
        for _ in range(10):
            assert cache.put("openapi", "things", key, payloads[key])

    threads = [threading.Thread(target=reader)] + [
        threading.Thread(target=writer, args=(k,)) for k in payloads
    ]
    for t in threads:
        t.start()
    for t in threads[1:]:
        t.join()
    stop.set()
    threads[0].join()
    assert all(found == payloads[key] for key, found in seen)
    assert [p.name for p in (tmp_path / "cache").iterdir()] == ["openapi-things.json"], "no temporaries left"


def test_default_directory_is_beside_the_state(tmp_path: Path) -> None:
    assert default_directory("sqlite:///./data/p.db", tmp_path) == tmp_path / "data" / ".pasarela-cache"
    assert default_directory("sqlite:////var/lib/p.db", tmp_path) == Path("/var/lib/.pasarela-cache")
    assert default_directory("sqlite:///:memory:", tmp_path) == tmp_path / ".pasarela-cache"
    assert default_directory("postgresql://u@db/x", tmp_path) == tmp_path / ".pasarela-cache"


@pytest.mark.parametrize("setting", ["true", "false", "'./elsewhere'"])
def test_tools_list_twice_uses_the_entry_the_first_run_wrote(tmp_path: Path, setting: str) -> None:
    (tmp_path / "things.yaml").write_text(SPEC)
    config = tmp_path / "pasarela.yaml"
    config.write_text(
        "version: 1\n"
        f"description_cache: {setting}\n"
        "backends:\n  things: {openapi: things.yaml}\naccess: {}\n"
    )
    first = run_pasarela("tools", "list", "-c", str(config))
    assert first.returncode == 0, first.stderr
    directory = {"true": ".pasarela-cache", "false": None, "'./elsewhere'": "elsewhere"}[setting]
    if directory is None:
        assert not (tmp_path / ".pasarela-cache").exists()
        return
    entry = tmp_path / directory / "openapi-things.json"
    inode = entry.stat().st_ino
    second = run_pasarela("tools", "list", "-c", str(config))
    assert second.returncode == 0, second.stderr
    assert second.stdout == first.stdout
    assert len(json.loads(second.stdout)) == 2, "no tool was quarantined: the pins match"
    assert entry.stat().st_ino == inode, "a hit reads the entry; only a miss replaces it"


async def test_a_reload_does_not_parse_an_unchanged_description(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "things.yaml").write_text(SPEC)
    config = tmp_path / "pasarela.yaml"
    config.write_text(
        "version: 1\nbackends:\n  things: {openapi: things.yaml, base_url: 'http://127.0.0.1:9'}\naccess: {}\n"
    )
    parses = Parses(monkeypatch)
    runtime = await build_runtime(load_config(config, environ=ENV))
    # What SIGHUP does: build from the configuration read again, lending the running parts.
    reloaded = await build_runtime(load_config(config, environ=ENV), reuse=runtime)
    try:
        assert parses.count == 1
        assert [t.name for t in reloaded.gateway.catalog] == [t.name for t in runtime.gateway.catalog]
    finally:
        await runtime.aclose(keep=reloaded)
        await reloaded.aclose()


async def test_a_secret_json_would_escape_is_still_recognised(spec: Path, tmp_path: Path) -> None:
    secret = 'pa"ss\\wörd-ß'
    spec.write_text(SPEC.replace("summary: One thing", f"summary: 'One thing {secret}'"))
    tools, _ = await load(spec, tmp_path / "cache", redactor=Redactor([secret]))
    assert secret in tools[0].description
    assert not (tmp_path / "cache" / "openapi-things.json").exists()


@pytest.mark.parametrize(("value", "expected"), [("'false'", False), ("'TRUE'", True), ("./c", "./c")])
def test_the_setting_accepts_text_from_references(value: str, expected: object) -> None:
    loaded = load_config_text(f"version: 1\ndescription_cache: {value}\n", source="p.yaml", base_dir=Path())
    assert loaded.settings.description_cache == expected


@pytest.mark.parametrize("value", ["''", "5", "[a]", "{}"])
def test_a_bad_setting_is_one_clear_problem(value: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config_text(f"version: 1\ndescription_cache: {value}\n", source="p.yaml", base_dir=Path())
    assert len(caught.value.problems) == 1
    assert "description_cache: expected true, false or a directory" in str(caught.value.problems[0])
