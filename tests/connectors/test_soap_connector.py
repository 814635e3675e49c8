"""The SOAP connector against a real SOAP server: our WSDL with imports and includes, nested
types, arrays, enumerations, SOAP 1.1 and 1.2, faults and WS-Security, through the gateway."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path

import httpx
import pytest

from pasarela.errors import ConfigError
from tests.conftest import FIXTURES
from tests.connectors import soap_server
from tests.helpers.gateway import READER_KEY, bearer, gateway_for
from tests.helpers.servers import ThreadedServer

pytestmark = pytest.mark.anyio

ACCESS = "access:\n  reader: ['*']\n"


@pytest.fixture
def server() -> Iterator[str]:
    soap_server.SEEN.clear()
    with ThreadedServer(soap_server.app()) as running:
        yield running.url


def backend(wsdl: str, url: str, extra: str = "") -> str:
    return f"""\
  core:
    soap: {wsdl}
    base_url: {url}/soap
{extra}"""


async def call(client: httpx.AsyncClient, tool: str, arguments: Mapping[str, object]) -> httpx.Response:
    return await client.post(
        f"/v1/tools/{tool}:call", json={"arguments": arguments}, headers=bearer(READER_KEY)
    )


@pytest.mark.parametrize("source", ["url", "file"])
async def test_operations_become_tools_with_schemas_from_the_xsd(
    tmp_path: Path, server: str, source: str
) -> None:
    wsdl = f"{server}/wsdl/core.wsdl" if source == "url" else str(FIXTURES / "soap" / "core.wsdl")
    async with gateway_for(tmp_path, "http://127.0.0.1:1", backends=backend(wsdl, server), extra=ACCESS) as (
        client,
        runtime,
    ):
        catalog = runtime.gateway.catalog
        assert {"GetAccounts", "GetBalance", "Soap12_GetAccounts", "Soap12_GetBalance"} <= set(
            catalog.names()
        )
        accounts = catalog.get("GetAccounts")
        assert accounts.input_schema["required"] == ["customerId"]
        assert accounts.input_schema["properties"]["type"] == {
            "type": "string",
            "enum": ["CHECKING", "SAVINGS"],
        }
        assert accounts.annotations.read_only
        assert accounts.description == "A customer's accounts"  # wsdl:documentation
        item = accounts.output_schema["properties"]["account"]["items"]  # type: ignore[index]
        assert item["properties"]["balance"]["properties"]["currency"]["enum"] == ["EUR", "USD", "GBP"]
        assert item["properties"]["holders"] == {"type": "array", "items": {"type": "string"}}

        answer = await call(client, "GetAccounts", {"customerId": "12345"})
        assert answer.status_code == 200, answer.text
        first, second = answer.json()["result"]["account"]
        assert first["balance"] == {"amount": 2450.75, "currency": "EUR"}
        assert first["openedOn"] == "2014-03-02" and first["holders"] == ["John Doe", "Jane Doe"]
        assert second["openedOn"] is None and second["holders"] == []
        only_savings = await call(client, "GetAccounts", {"customerId": "12345", "type": "SAVINGS"})
        assert [a["accountId"] for a in only_savings.json()["result"]["account"]] == ["ACC-1002"]
        assert (await call(client, "GetAccounts", {"customerId": "12345", "type": "GOLD"})).status_code == 422


async def test_xsd_facets_reach_the_input_schema_and_bad_values_stop_at_the_gateway(
    tmp_path: Path, server: str
) -> None:
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(f"{server}/wsdl/core.wsdl", server), extra=ACCESS
    ) as (client, runtime):
        accounts = runtime.gateway.catalog.get("GetAccounts").input_schema["properties"]
        assert accounts["limit"] == {"type": "integer", "minimum": 1, "maximum": 50}
        assert accounts["preview"] == {
            "type": "integer",
            "minimum": 1,
            "maximum": 10,
        }  # its base's facets too
        assert accounts["tier"] == {"type": "integer", "enum": [1, 2, 3]}
        assert accounts["reference"] == {"type": "string", "maxLength": 12}  # an anonymous simple type
        # Two anonymous types zeep names alike: neither limit is enforced rather than the wrong one.
        assert accounts["note"] == {"type": "string"}
        assert runtime.gateway.catalog.get("GetBalance").input_schema["properties"]["note"] == {
            "type": "string"
        }
        balance = runtime.gateway.catalog.get("GetBalance").input_schema["properties"]["accountId"]
        assert balance == {"type": "string", "pattern": "^(?:(?:ACC-[A-Z0-9]{1,6}))$", "maxLength": 10}

        seen = len(soap_server.SEEN)
        bad: list[tuple[str, dict[str, object]]] = [
            ("GetAccounts", {"customerId": "12345", "limit": 0}),
            ("GetAccounts", {"customerId": "12345", "preview": 11}),
            ("GetAccounts", {"customerId": "12345", "tier": 4}),
            ("GetAccounts", {"customerId": "12345", "reference": "R" * 13}),
            ("GetBalance", {"accountId": "1001"}),
            ("GetBalance", {"accountId": "ACC-1001\n<x/>"}),  # anchored: nothing after the match
        ]
        for tool, arguments in bad:
            refused = await call(client, tool, arguments)
            assert refused.status_code == 422, (arguments, refused.text)
        assert len(soap_server.SEEN) == seen  # none reached the backend
        assert (
            await call(client, "GetAccounts", {"customerId": "12345", "limit": 50, "tier": 2})
        ).status_code == 200


async def test_attributes_and_simple_content(tmp_path: Path, server: str) -> None:
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(f"{server}/wsdl/core.wsdl", server), extra=ACCESS
    ) as (client, runtime):
        accounts = runtime.gateway.catalog.get("GetAccounts").input_schema["properties"]
        assert accounts["channel"] == {"type": "string", "enum": ["WEB", "BRANCH"]}  # an attribute
        assert accounts["minBalance"] == {
            "type": "object",
            "properties": {
                "_value_1": {"type": "number", "description": "The element's own value (XSD simpleContent)"},
                "currency": {"type": "string", "enum": ["EUR", "USD", "GBP"]},
            },
            "required": ["_value_1", "currency"],
        }
        arguments = {
            "customerId": "12345",
            "channel": "WEB",
            "minBalance": {"_value_1": 100, "currency": "EUR"},
        }
        assert (await call(client, "GetAccounts", arguments)).status_code == 200
        request = soap_server.SEEN[-1]["request"]
        assert 'channel="WEB"' in request and 'currency="EUR">100<' in request
        no_currency = {"customerId": "12345", "minBalance": {"_value_1": 100}}
        assert (await call(client, "GetAccounts", no_currency)).status_code == 422


async def test_soap_12(tmp_path: Path, server: str) -> None:
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(f"{server}/wsdl/core.wsdl", server), extra=ACCESS
    ) as (client, _):
        answer = await call(client, "Soap12_GetBalance", {"accountId": "ACC-1001"})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"]["balance"] == {"amount": 2450.75, "currency": "EUR"}
        assert answer.json()["result"]["asOf"].startswith("2026-11-22T10:00:00")
        assert soap_server.SEEN[-1]["namespace"] == soap_server.SOAP12


@pytest.mark.parametrize("tool", ["GetBalance", "Soap12_GetBalance"])
async def test_faults_become_upstream_errors(tmp_path: Path, server: str, tool: str) -> None:
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(f"{server}/wsdl/core.wsdl", server), extra=ACCESS
    ) as (client, _):
        answer = await call(client, tool, {"accountId": "ACC-404"})
        assert answer.status_code == 502
        problem = answer.json()
        assert problem["upstream_body"] == "no account ACC-404"
        # The faultstring leads: the model reads the system's own words first.
        assert problem["detail"].startswith("no account ACC-404 (core answered ")
        assert "UnknownAccount" in problem["fault_code"] or "Sender" in problem["fault_code"]


async def test_credentials_basic_and_ws_security(tmp_path: Path, server: str) -> None:
    extra = '    auth: {basic: {username: gateway, password: "basic-pass-0001"}}\n    ws_security: {username: svc-pasarela, password: "wss-pass-000001", digest: true}\n'
    async with gateway_for(
        tmp_path,
        "http://127.0.0.1:1",
        backends=backend(f"{server}/wsdl/core.wsdl", server, extra),
        extra=ACCESS,
    ) as (client, _):
        traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
        answer = await client.post(
            "/v1/tools/GetBalance:call",
            json={"arguments": {"accountId": "ACC-1001"}},
            headers={**bearer(READER_KEY), "traceparent": traceparent},
        )
        assert answer.status_code == 200
        seen = soap_server.SEEN[-1]
        assert seen["username"] == "svc-pasarela"
        assert seen["authorization"].startswith("Basic "), "the trace context never replaces the credential"
        assert seen["traceparent"] == traceparent
        assert answer.json()["meta"]["as_of"].endswith("Z"), "from the SOAP server's Date header"


async def test_rpc_style_operations(tmp_path: Path, server: str) -> None:
    async with gateway_for(
        tmp_path, "http://127.0.0.1:1", backends=backend(f"{server}/wsdl/rates.wsdl", server), extra=ACCESS
    ) as (client, runtime):
        rate = runtime.gateway.catalog.get("GetRate")
        assert rate.description.startswith("Convert an amount between currencies")
        assert rate.input_schema["required"] == ["fromCurrency", "toCurrency", "amount"]
        assert rate.input_schema["properties"]["toCurrency"]["enum"] == ["EUR", "USD", "GBP"]
        assert rate.output_schema["properties"]["converted"]["properties"]["amount"] == {"type": "number"}  # type: ignore[index]

        answer = await call(client, "GetRate", {"fromCurrency": "EUR", "toCurrency": "USD", "amount": 200})
        assert answer.status_code == 200, answer.text
        assert answer.json()["result"] == {"rate": 1.05, "converted": {"amount": 210.0, "currency": "USD"}}
        # The wrapper is the operation itself, in the namespace the binding names (rpc, not document).
        assert soap_server.SEEN[-1]["operation"] == "{urn:bank:rates}GetRate"
        refused = await call(client, "GetRate", {"fromCurrency": "EUR", "toCurrency": "JPY", "amount": 1})
        assert refused.status_code == 422
        fault = await call(client, "GetRate", {"fromCurrency": "EUR", "toCurrency": "USD", "amount": -1})
        assert fault.status_code == 502
        assert fault.json()["upstream_body"] == "amount must not be negative"


async def test_an_unreadable_wsdl_is_a_config_error(tmp_path: Path, server: str) -> None:
    with pytest.raises(ConfigError, match=r"backends\.core\.soap: cannot load the WSDL"):
        async with gateway_for(
            tmp_path, "http://127.0.0.1:1", backends=backend(f"{server}/wsdl/missing.wsdl", server)
        ):
            pass
