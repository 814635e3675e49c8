"""The Vault (KV v2) secret provider, through hvac.

No Vault server can be installed on this machine (not on PyPI, Debian or npm), so the
tests run hvac against a small server that speaks Vault's documented KV v2 read API
(`GET /v1/<mount>/data/<path>` with `X-Vault-Token`). That proves our side — the request
hvac makes, our reading of the answer, every error path — not Vault's own behaviour.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.helpers.servers import ThreadedServer

TOKEN = "hvs.test-token-0001"
SECRETS = {"CRM_TOKEN": "crm-token-from-vault", "AUDIT_KEY": "audit-key-from-vault"}


class FakeKv:
    def __init__(self) -> None:
        self.requests: list[tuple[str, str | None, str | None]] = []
        self.data = dict(SECRETS)

    async def read(self, request: Request) -> JSONResponse:
        token = request.headers.get("x-vault-token")
        self.requests.append((request.url.path, token, request.headers.get("x-vault-namespace")))
        if token != TOKEN:
            return JSONResponse({"errors": ["permission denied"]}, status_code=403)
        if request.path_params["path"] != "pasarela/prod":
            return JSONResponse({"errors": []}, status_code=404)
        metadata = {
            "version": 3,
            "deletion_time": "",
            "destroyed": False,
            "created_time": "2026-11-22T00:00:00Z",
        }
        return JSONResponse({"data": {"data": self.data, "metadata": metadata}})

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/secret/data/{path:path}", self.read)])


@pytest.fixture
def vault() -> Iterator[tuple[FakeKv, str]]:
    kv = FakeKv()
    with ThreadedServer(kv.app()) as server:
        yield kv, server.url


def config(tmp_path: Path, url: str, extra: str = "") -> Path:
    path = tmp_path / "pasarela.yaml"
    path.write_text(
        f"""\
version: 1
secrets:
  - vault: {{url: "{url}", path: pasarela/prod{extra}}}
  - env: {{prefix: PASARELA_SECRET_}}
audit: {{checkpoint_key: "${{secret:AUDIT_KEY}}"}}
identity:
  api_keys:
    - {{principal: bot, key: "${{secret:BOT_KEY}}"}}
"""
    )
    return path


def test_secrets_resolve_from_vault_first_then_the_next_provider(
    tmp_path: Path, vault: tuple[FakeKv, str]
) -> None:
    kv, url = vault
    loaded = load_config(
        config(tmp_path, url),
        environ={"VAULT_TOKEN": TOKEN, "PASARELA_SECRET_BOT_KEY": "bot-key-from-env-01"},
    )
    assert loaded.settings.audit.checkpoint_key is not None
    assert loaded.settings.audit.checkpoint_key.get_secret_value() == "audit-key-from-vault"
    # Not in Vault's secret: the next provider answers.
    assert loaded.settings.identity.api_keys[0].key is not None
    assert loaded.settings.identity.api_keys[0].key.get_secret_value() == "bot-key-from-env-01"
    assert kv.requests == [("/v1/secret/data/pasarela/prod", TOKEN, None)]  # read once per load
    assert loaded.redactor.redact("x audit-key-from-vault y") == "x *** y"


def test_a_reload_reads_rotated_values(tmp_path: Path, vault: tuple[FakeKv, str]) -> None:
    kv, url = vault
    environ = {"VAULT_TOKEN": TOKEN, "PASARELA_SECRET_BOT_KEY": "bot-key-from-env-01"}
    path = config(tmp_path, url)
    load_config(path, environ=environ)
    kv.data["AUDIT_KEY"] = "rotated-audit-key-0002"
    again = load_config(path, environ=environ)
    assert again.settings.audit.checkpoint_key is not None
    assert again.settings.audit.checkpoint_key.get_secret_value() == "rotated-audit-key-0002"


def test_namespace_and_token_file(tmp_path: Path, vault: tuple[FakeKv, str]) -> None:
    kv, url = vault
    (tmp_path / "token").write_text(TOKEN + "\n")
    path = config(tmp_path, url, ", token_file: token, namespace: bank/payments")
    load_config(path, environ={"PASARELA_SECRET_BOT_KEY": "bot-key-from-env-01"})
    assert kv.requests == [("/v1/secret/data/pasarela/prod", TOKEN, "bank/payments")]


@pytest.mark.parametrize(
    ("environ", "extra", "expected"),
    [
        ({"VAULT_TOKEN": "hvs.wrong"}, "", "refused: Forbidden"),
        ({}, "", "no Vault token: the environment variable VAULT_TOKEN is not set"),
        ({"VAULT_TOKEN": TOKEN}, ", mount: kv", "refused: InvalidPath"),
    ],
)
def test_vault_problems_name_the_secret_and_where_it_was_looked_for(
    tmp_path: Path, vault: tuple[FakeKv, str], environ: dict[str, str], extra: str, expected: str
) -> None:
    _, url = vault
    with pytest.raises(ConfigError) as caught:
        load_config(config(tmp_path, url, extra), environ=environ)
    messages = [f"{p.path}: {p.message}" for p in caught.value.problems]
    assert any(
        m.startswith("audit.checkpoint_key: secret 'AUDIT_KEY'") and expected in m for m in messages
    ), messages


def test_an_unreachable_vault_is_a_clear_problem(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"secret 'AUDIT_KEY': cannot reach Vault at http://127\.0\.0\.1:1"):
        load_config(config(tmp_path, "http://127.0.0.1:1"), environ={"VAULT_TOKEN": TOKEN})


def test_a_vault_url_must_be_http(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"secrets\[0\]\.vault\.url: .*expected an http\(s\) URL"):
        load_config(config(tmp_path, "vault.internal:8200"), environ={})
