from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.config import LoadedConfig, load_config, load_config_text
from pasarela.config.backends import OpenApiBackend
from pasarela.errors import ConfigError


def load(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> LoadedConfig:
    file = tmp_path / "pasarela.yaml"
    file.write_text(text)
    return load_config(file, environ=environ or {})


def problems_of(text: str, tmp_path: Path, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load(text, tmp_path, environ)
    return [f"{p.path}|{p.line}|{p.message}" for p in caught.value.problems]


def test_minimal_config_has_safe_defaults(tmp_path: Path) -> None:
    loaded = load("version: 1\n", tmp_path)
    settings = loaded.settings
    assert settings.server.host == "127.0.0.1"
    assert settings.shared == "memory://"
    assert settings.access == {}


def test_every_problem_is_reported_with_key_path_and_line(tmp_path: Path) -> None:
    found = problems_of(
        "version: 1\n"
        "server: {port: 99999, colour: red}\n"
        "backends:\n"
        "  crm:\n"
        "    openapi: ./crm.yaml\n"
        "    timeout: 5 parsecs\n",
        tmp_path,
    )
    assert any(f.startswith("server.port|2|") and "65535" in f for f in found)
    assert any(f.startswith("server.colour|2|unknown key; expected one of: allowed_hosts") for f in found)
    assert any(f.startswith("backends.crm.timeout|6|expected a duration") for f in found)


def test_unknown_top_level_key_is_an_error(tmp_path: Path) -> None:
    found = problems_of("version: 1\npolicy: {}\n", tmp_path)
    assert found[0].startswith("policy|2|unknown key; expected one of: access, audit, backends")


def test_backend_needs_exactly_one_kind(tmp_path: Path) -> None:
    found = problems_of("version: 1\nbackends:\n  x: {openapi: a.yaml, python: m}\n", tmp_path)
    assert found == [
        "backends.x|3|a backend needs exactly one kind key: openapi | python | sql | mcp | graphql | soap | grpc | a2a; "
        "found: openapi, python"
    ]


def test_a_backend_refuses_another_kinds_settings(tmp_path: Path) -> None:
    found = problems_of(
        "version: 1\nbackends:\n  crm:\n    openapi: a.yaml\n    queries: {q: {sql: 'select 1'}}\n"
        "    ws_security: {username: u, password: p}\n    max_rows: 5\n    retry: {attemptz: 2}\n",
        tmp_path,
    )
    keys = {f.split("|")[0]: f for f in found}
    assert set(keys) == {
        "backends.crm.queries",
        "backends.crm.ws_security",
        "backends.crm.max_rows",
        "backends.crm.retry.attemptz",
    }
    assert (
        "|5|unknown key for openapi backends; expected one of: auth, auto_approve_changes, base_url"
        in keys["backends.crm.queries"]
    )
    assert "|8|unknown key; expected one of: attempts" in keys["backends.crm.retry.attemptz"]


def test_durations(tmp_path: Path) -> None:
    loaded = load(
        "version: 1\nbackends:\n  a: {openapi: a.yaml, timeout: 250ms, connect_timeout: 2m}\n", tmp_path
    )
    backend = loaded.settings.backends["a"]
    assert backend.timeout == 0.25
    assert backend.connect_timeout == 120


def test_env_and_secret_interpolation(tmp_path: Path) -> None:
    (tmp_path / "secrets").mkdir()
    (tmp_path / "secrets" / "CRM_TOKEN").write_text("from-a-file-123\n")
    loaded = load(
        "version: 1\n"
        "secrets: [{env: {prefix: S_}}, {file: {dir: ./secrets}}]\n"
        "backends:\n"
        "  crm:\n"
        "    openapi: ${env:SPEC_DIR}/crm.yaml\n"
        "    base_url: ${env:CRM_URL:-http://localhost:9}\n"
        "    headers: {X-Literal: '$${not-a-reference}', X-Env-Secret: '${secret:FROM_ENV}'}\n"
        "    auth: {bearer: '${secret:CRM_TOKEN}'}\n",
        tmp_path,
        {"SPEC_DIR": "/specs", "S_FROM_ENV": "env-secret-456"},
    )
    crm = loaded.settings.backends["crm"]
    assert isinstance(crm, OpenApiBackend)
    assert crm.openapi == "/specs/crm.yaml"
    assert crm.base_url == "http://localhost:9"
    assert crm.headers == {"X-Literal": "${not-a-reference}", "X-Env-Secret": "env-secret-456"}
    assert crm.auth is not None
    assert crm.auth.bearer is not None
    assert crm.auth.bearer.get_secret_value() == "from-a-file-123"
    assert "from-a-file-123" in loaded.redactor


def test_missing_references_are_named(tmp_path: Path) -> None:
    found = problems_of(
        "version: 1\nbackends:\n  crm:\n    openapi: ${env:NOPE}/x.yaml\n    auth: {bearer: '${secret:GONE}'}\n",
        tmp_path,
    )
    assert "backends.crm.openapi|4|environment variable NOPE is not set" in found
    assert any(f.startswith("backends.crm.auth.bearer|5|secret 'GONE' was not found") for f in found)


def test_secret_values_never_appear_in_errors(tmp_path: Path) -> None:
    found = problems_of(
        "version: 1\nserver: {port: '${secret:PORT}'}\n", tmp_path, {"PASARELA_SECRET_PORT": "hunter2-secret"}
    )
    assert found and not any("hunter2-secret" in f for f in found)


def test_file_secret_names_cannot_escape_the_directory(tmp_path: Path) -> None:
    (tmp_path / "outside").write_text("leaked")
    (tmp_path / "secrets").mkdir()
    found = problems_of(
        "version: 1\nsecrets: [{file: {dir: ./secrets}}]\nbackends:\n  a: {openapi: '${secret:..}'}\n",
        tmp_path,
    )
    assert any("was not found" in f for f in found)


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    found = problems_of("version: 1\nserver: {port: 1\n", tmp_path)
    assert found[0].startswith("|") and "not valid YAML" in found[0]


def test_a_key_given_twice_is_refused_not_silently_overridden(tmp_path: Path) -> None:
    text = (
        "version: 1\n"
        "access: {support: [get_customer]}\n"
        "server: {port: 1, port: 2}\n"
        "defaults: &d {timeout: 5s}\n"
        "backends:\n"
        "  a: {<<: *d, timeout: 9s, python: tests.connectors.sample_tools}\n"  # overriding a merge is fine
        "access: {sales: [quote]}\n"
    )
    found = problems_of(text, tmp_path)
    assert "access|7|this key is given twice (lines 2 and 7): say it once" in found, found
    assert "server.port|3|this key is given twice (lines 3 and 3): say it once" in found, found
    assert len(found) == 2, "a key overriding a merged one is not a duplicate"


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "absent.yaml")


def test_unknown_state_scheme(tmp_path: Path) -> None:
    found = problems_of("version: 1\nshared: memcached://x\n", tmp_path)
    assert found == ["shared|2|unknown scheme 'memcached': expected one of memory://, redis://, rediss://"]


def test_api_key_entry_needs_one_key(tmp_path: Path) -> None:
    found = problems_of("version: 1\nidentity:\n  api_keys:\n    - {principal: bot}\n", tmp_path)
    assert found == [
        "identity.api_keys[0]|4|expected exactly one way to give the key (key_sha256 | key), found: none"
    ]


def test_text_loader_resolves_paths_against_base_dir(tmp_path: Path) -> None:
    loaded = load_config_text("version: 1\n", source="inline", base_dir=tmp_path)
    assert loaded.resolve_path("specs/a.yaml") == tmp_path / "specs" / "a.yaml"
