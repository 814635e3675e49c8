"""A real SOAP server for the connector tests: serves the WSDL/XSD fixtures over HTTP and
answers SOAP 1.1 and 1.2 envelopes (document/literal), with faults and WS-Security checks."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.conftest import FIXTURES

SOAP11 = "http://schemas.xmlsoap.org/soap/envelope/"
SOAP12 = "http://www.w3.org/2003/05/soap-envelope"
TYPES = "urn:bank:types"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
ACCOUNTS: dict[str, list[dict[str, Any]]] = {
    "12345": [
        {
            "accountId": "ACC-1001",
            "type": "CHECKING",
            "amount": "2450.75",
            "currency": "EUR",
            "openedOn": "2014-03-02",
            "holders": ["John Doe", "Jane Doe"],
        },
        {
            "accountId": "ACC-1002",
            "type": "SAVINGS",
            "amount": "15230.00",
            "currency": "EUR",
            "openedOn": None,
            "holders": [],
        },
    ]
}
SEEN: list[dict[str, Any]] = []


class SoapFault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _t(name: str, text: str | None = None, *children: etree._Element) -> etree._Element:
    element = etree.Element(f"{{{TYPES}}}{name}", nsmap={"t": TYPES})
    if text is not None:
        element.text = text
    element.extend(children)
    return element


def _money(amount: str, currency: str) -> list[etree._Element]:
    return [_t("amount", amount), _t("currency", currency)]


def get_accounts(request: etree._Element) -> etree._Element:
    customer = request.findtext(f"{{{TYPES}}}customerId")
    wanted = request.findtext(f"{{{TYPES}}}type")
    if customer not in ACCOUNTS:
        raise SoapFault("Client.UnknownCustomer", f"no customer {customer}")
    response = _t("GetAccountsResponse")
    for account in ACCOUNTS[customer]:
        if wanted and account["type"] != wanted:
            continue
        node = _t(
            "account",
            None,
            _t("accountId", account["accountId"]),
            _t("type", account["type"]),
            _t("balance", None, *_money(account["amount"], account["currency"])),
        )
        if account["openedOn"]:
            node.append(_t("openedOn", account["openedOn"]))
        for holder in account["holders"]:
            node.append(_t("holders", holder))
        response.append(node)
    return response


def get_balance(request: etree._Element) -> etree._Element:
    account_id = request.findtext(f"{{{TYPES}}}accountId")
    for accounts in ACCOUNTS.values():
        for account in accounts:
            if account["accountId"] == account_id:
                return _t(
                    "GetBalanceResponse",
                    None,
                    _t("balance", None, *_money(account["amount"], account["currency"])),
                    _t("asOf", "2026-11-22T10:00:00Z"),
                )
    raise SoapFault(
        "Server.Unavailable" if account_id == "ACC-DOWN" else "Client.UnknownAccount",
        f"no account {account_id}",
    )


RATES = "urn:bank:rates"
EUR_TO = {"EUR": "1", "USD": "1.05", "GBP": "0.85"}


def _part(request: etree._Element, name: str) -> str | None:
    """rpc/literal parts are unqualified children of the operation's wrapper."""
    text: str | None = request.findtext(name)
    return text


def get_rate(request: etree._Element) -> etree._Element:
    source, target, amount = (_part(request, n) for n in ("fromCurrency", "toCurrency", "amount"))
    if source not in EUR_TO or target not in EUR_TO or amount is None:
        raise SoapFault("Client.BadRequest", f"cannot convert {source} to {target}")
    if Decimal(amount) < 0:
        raise SoapFault("Client.BadRequest", "amount must not be negative")
    rate = Decimal(EUR_TO[target]) / Decimal(EUR_TO[source])
    response = etree.Element(f"{{{RATES}}}GetRateResponse", nsmap={"r": RATES})
    etree.SubElement(response, "rate").text = str(rate)
    converted = etree.SubElement(response, "converted")
    converted.extend(_money(str((Decimal(amount) * rate).quantize(Decimal("0.01"))), target))
    return response


HANDLERS = {"GetAccountsRequest": get_accounts, "GetBalanceRequest": get_balance, "GetRate": get_rate}


def _envelope(namespace: str, body_child: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{namespace}}}Envelope", nsmap={"soap": namespace})
    body = etree.SubElement(envelope, f"{{{namespace}}}Body")
    body.append(body_child)
    rendered: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return rendered


def _fault(namespace: str, fault: SoapFault) -> bytes:
    if namespace == SOAP11:
        node = etree.Element(f"{{{SOAP11}}}Fault")
        etree.SubElement(node, "faultcode").text = f"soap:{fault.code}"
        etree.SubElement(node, "faultstring").text = fault.message
    else:
        node = etree.Element(f"{{{SOAP12}}}Fault")
        code = etree.SubElement(node, f"{{{SOAP12}}}Code")
        etree.SubElement(code, f"{{{SOAP12}}}Value").text = (
            "soap:Sender" if fault.code.startswith("Client") else "soap:Receiver"
        )
        reason = etree.SubElement(node, f"{{{SOAP12}}}Reason")
        text = etree.SubElement(reason, f"{{{SOAP12}}}Text")
        text.text = fault.message
        text.set("{http://www.w3.org/XML/1998/namespace}lang", "en")
    return _envelope(namespace, node)


async def soap(request: Request) -> Response:
    root = etree.fromstring(await request.body())
    namespace = etree.QName(root).namespace
    content_type = "text/xml; charset=utf-8" if namespace == SOAP11 else "application/soap+xml; charset=utf-8"
    username = root.findtext(f".//{{{WSSE}}}Username")
    body = root.find(f"{{{namespace}}}Body")
    assert body is not None
    operation = body[0]
    SEEN.append(
        {
            "namespace": namespace,
            "username": username,
            "authorization": request.headers.get("authorization"),
            "traceparent": request.headers.get("traceparent"),
            "operation": operation.tag,
            "request": etree.tostring(operation).decode(),
        }
    )
    try:
        handler = HANDLERS[etree.QName(operation).localname]
        payload = _envelope(namespace, handler(operation))
    except SoapFault as fault:
        return Response(_fault(namespace, fault), status_code=500, media_type=content_type)
    return Response(payload, media_type=content_type)


async def fixture(request: Request) -> Response:
    name = request.path_params["name"]
    return Response((FIXTURES / "soap" / name).read_bytes(), media_type="text/xml")


def app() -> Starlette:
    return Starlette(
        routes=[
            Route("/soap", soap, methods=["POST"]),
            Route("/soap12", soap, methods=["POST"]),
            Route("/wsdl/{name}", fixture, methods=["GET"]),
        ]
    )
