"""Bad A2A backend settings, and agent cards that cannot be used, are reported with the key path
and what was expected — when the configuration is read, or when the card is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from pasarela.config import load_config
from pasarela.connectors.a2a.card import CardProblem, CardSource, parse_card, reachable
from pasarela.errors import ConfigError
from pasarela.secrets import Redactor
from tests.connectors.a2a.desk_agent import DeskAgent
from tests.connectors.a2a.helpers import ACCESS, NOWHERE, backend
from tests.helpers.gateway import ENV, gateway_for, write_config
from tests.helpers.servers import free_port

pytestmark = pytest.mark.anyio


def problems_of(
    tmp_path: Path,
    extra: str,
    where: str = "http://127.0.0.1:1",
    token: str | None = "x",  # noqa: S107
) -> str:
    config = write_config(tmp_path, NOWHERE, backends=backend(where, extra, token=token), extra=ACCESS)
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ=ENV)
    return str(caught.value)


@pytest.mark.parametrize(
    ("extra", "where", "expected"),
    [
        (
            "",
            "ftp://desk.bank",
            "backends.desk.a2a: an agent card is fetched over http:// or https://",
        ),
        (
            "",
            "' '",
            "backends.desk.a2a: expected the agent's URL, its agent card's URL or a card file",
        ),
        ("    poll_interval: 0\n", "http://x", "backends.desk.poll_interval"),
        ("    max_message_length: 0\n", "http://x", "backends.desk.max_message_length"),
        (
            "    base_url: ftp://x\n",
            "http://x",
            "backends.desk.base_url: base_url must start with http",
        ),
        ("    tool: 'ask the desk'\n", "http://x", "backends.desk.tool"),
        ("    metadata: {a: b}\n", "http://x", "backends.desk.metadata: unknown key"),
        ("    health_check: {service: x}\n", "http://x", "backends.desk.health_check.service: unknown key"),
    ],
)
def test_bad_settings_name_their_key(tmp_path: Path, extra: str, where: str, expected: str) -> None:
    assert expected in problems_of(tmp_path, extra, where)


@pytest.mark.parametrize(
    "auth",
    [
        "    auth:\n      oauth2_client_credentials: {token_url: https://idp, client_id: a, client_secret: b}\n",
        "    auth: {api_key: {query: key, value: x}}\n",
    ],
)
def test_credentials_that_cannot_be_sent_are_refused(tmp_path: Path, auth: str) -> None:
    found = problems_of(tmp_path, auth, token=None)
    assert "backends.desk.auth: A2A backends take bearer, basic or a header api_key" in found


async def load_problem(
    tmp_path: Path,
    where: str,
    extra: str = "",
    token: str | None = "${secret:ITEMS_TOKEN}",  # noqa: S107 - a reference
) -> str:
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(tmp_path, NOWHERE, backends=backend(where, extra, token=token), extra=ACCESS):
            pass
    return str(caught.value)


def card_file(tmp_path: Path, card: dict[str, Any] | str) -> str:
    (tmp_path / "card.json").write_text(card if isinstance(card, str) else json.dumps(card))
    return "card.json"


async def test_a_card_that_cannot_be_had_is_named(tmp_path: Path, desk: DeskAgent) -> None:
    port = free_port()
    found = await load_problem(tmp_path, f"http://127.0.0.1:{port}")
    assert (
        f"backends.desk.a2a: cannot fetch the agent card at http://127.0.0.1:{port}/.well-known/agent-card.json: "
        "ConnectError"
    ) in found
    found = await load_problem(tmp_path, f"{desk.url}/cards/nowhere.json")
    assert f"backends.desk.a2a: the agent card at {desk.url}/cards/nowhere.json answered HTTP 404" in found
    assert "backends.desk.a2a: cannot read the agent card" in await load_problem(tmp_path, "missing.json")
    assert "backends.desk.a2a: the agent card is not JSON" in await load_problem(
        tmp_path, card_file(tmp_path, "{not json")
    )


async def test_cards_that_cannot_be_used_say_why(tmp_path: Path, desk: DeskAgent) -> None:
    card = desk.card_json()
    cases: list[tuple[dict[str, Any], str]] = [
        ({**card, "name": ""}, "the agent card has no name"),
        (
            {**card, "supportedInterfaces": [{"url": "127.0.0.1:5", "protocolBinding": "GRPC"}]},
            "the agent offers no JSON-RPC or HTTP+JSON interface (it offers: GRPC)",
        ),
        (
            {**card, "defaultInputModes": ["image/png"], "skills": []},
            "the agent takes neither text nor JSON (input modes: image/png)",
        ),
        ({**card, "skills": "many"}, "not an agent card"),
    ]
    for bad, expected in cases:
        found = await load_problem(tmp_path, card_file(tmp_path, bad))
        assert f"backends.desk.a2a: {expected}" in found, found


async def test_a_credential_that_does_not_fit_the_card_is_named(tmp_path: Path, desk: DeskAgent) -> None:
    found = await load_problem(tmp_path, desk.url, token=None)
    assert (
        "backends.desk.auth: the agent card asks for HTTP Bearer; give the gateway's credential in auth"
        in found
    )
    basic = "    auth: {basic: {username: u, password: p}}\n"
    found = await load_problem(tmp_path, desk.url, basic, token=None)
    assert (
        "backends.desk.auth: the agent card asks for HTTP Bearer, which a basic credential does not answer"
        in found
    )


async def test_streaming_is_refused_where_the_agent_does_not_stream(tmp_path: Path) -> None:
    with DeskAgent(streaming=False) as desk:
        found = await load_problem(tmp_path, desk.url, "    streaming: true\n")
    assert "backends.desk.streaming: the agent card says the agent does not stream" in found


def test_a_card_fetched_over_tls_may_not_send_the_credential_in_the_clear() -> None:
    card = parse_card(
        {
            "name": "Desk",
            "supportedInterfaces": [{"url": "http://desk.bank/a2a", "protocolBinding": "JSONRPC"}],
        },
        Redactor(),
    )
    source = CardSource.of("https://desk.bank", Path())
    assert source.url == "https://desk.bank/.well-known/agent-card.json"
    with pytest.raises(CardProblem, match="names a plain http interface"):
        reachable(card, source, None)
    # Unless the operator says where the agent is: its scheme, host and port, the card's path kept.
    rebased = reachable(card, source, "https://desk.internal:8443")
    assert rebased.supported_interfaces[0].url == "https://desk.internal:8443/a2a"
