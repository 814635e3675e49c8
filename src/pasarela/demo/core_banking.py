"""The demo bank's core banking system: a SOAP 1.1 service (document/literal) with a WSDL.

It serves its WSDL and XSD, answers GetCustomerAccounts and GetAccountBalance from its own
SQLite data, and accepts only requests carrying a WS-Security UsernameToken whose password
digest matches its credential, created within the last five minutes, with a nonce it has not
seen in that time.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import threading
from decimal import Decimal

from lxml import etree
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pasarela.demo.common import connect, packaged, same

SOAP = "http://schemas.xmlsoap.org/soap/envelope/"
TYPES = "urn:demo-bank:core:types"
WSSE = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd"
WSU = "http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-utility-1.0.xsd"
USERNAME = "pasarela"
FRESH_FOR = dt.timedelta(minutes=5)
CREDIT_LIMIT = Decimal("2000.00")
# account, customer, product, currency, ledger balance, status, opened on
ACCOUNTS = [
    ("ACC-1001", "12345", "CHECKING", "EUR", "2450.75", "ACTIVE", "2014-03-02"),
    ("ACC-1002", "12345", "SAVINGS", "EUR", "15230.00", "ACTIVE", "2015-01-20"),
    ("ACC-1003", "12345", "CREDIT_CARD", "EUR", "-312.40", "ACTIVE", "2019-07-11"),
    ("ACC-1004", "12345", "SAVINGS", "EUR", "0.00", "CLOSED", "2012-05-04"),
    ("ACC-2001", "23456", "CHECKING", "EUR", "98200.10", "ACTIVE", "2009-11-17"),
    ("ACC-3001", "34567", "CHECKING", "SGD", "40210.00", "ACTIVE", "2018-06-25"),
    ("ACC-3002", "34567", "SAVINGS", "SGD", "5000.00", "FROZEN", "2018-06-25"),
    ("ACC-4001", "45678", "CHECKING", "USD", "830.55", "ACTIVE", "2021-01-09"),
    ("ACC-5001", "56789", "CHECKING", "EUR", "1200.00", "ACTIVE", "2016-08-30"),
]

# Whose accounts these are: the region of each customer, as core banking records it.
CUSTOMER_REGIONS = [("12345", "EU"), ("23456", "EU"), ("34567", "APAC"), ("45678", "US"), ("56789", "EU")]


class Fault(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _t(name: str, text: str | None = None) -> etree._Element:
    element = etree.Element(f"{{{TYPES}}}{name}", nsmap={"t": TYPES})
    element.text = text
    return element


def _child(parent: etree._Element, name: str, text: str | None = None) -> etree._Element:
    element = etree.SubElement(parent, f"{{{TYPES}}}{name}")
    element.text = text
    return element


def _money(parent: etree._Element, name: str, amount: Decimal, currency: str) -> None:
    money = _child(parent, name)
    _child(money, "amount", str(amount))
    _child(money, "currency", currency)


def _envelope(content: etree._Element) -> bytes:
    envelope = etree.Element(f"{{{SOAP}}}Envelope", nsmap={"soap": SOAP})
    etree.SubElement(envelope, f"{{{SOAP}}}Body").append(content)
    rendered: bytes = etree.tostring(envelope, xml_declaration=True, encoding="utf-8")
    return rendered


def _fault(fault: Fault) -> bytes:
    node = etree.Element(f"{{{SOAP}}}Fault")
    etree.SubElement(node, "faultcode").text = f"soap:{fault.code}"
    etree.SubElement(node, "faultstring").text = fault.message
    return _envelope(node)


class SeenNonces:
    """Nonces of the last FRESH_FOR: a captured request replayed within it is refused."""

    def __init__(self) -> None:
        self._seen: dict[str, dt.datetime] = {}
        self._lock = threading.Lock()

    def first_use(self, nonce: str, now: dt.datetime) -> bool:
        with self._lock:
            self._seen = {n: t for n, t in self._seen.items() if now - t <= FRESH_FOR}
            if nonce in self._seen:
                return False
            self._seen[nonce] = now
            return True


def check_username_token(header: etree._Element | None, password: str, nonces: SeenNonces) -> None:
    """A UsernameToken with a password digest (nonce + created + password, SHA-1), fresh and
    never seen before."""
    token = header.find(f".//{{{WSSE}}}UsernameToken") if header is not None else None
    if token is None:
        raise Fault("Client.FailedAuthentication", "a WS-Security UsernameToken is required")
    nonce = token.findtext(f"{{{WSSE}}}Nonce")
    created = token.findtext(f"{{{WSU}}}Created")
    digest = token.findtext(f"{{{WSSE}}}Password")
    if token.findtext(f"{{{WSSE}}}Username") != USERNAME or not (nonce and created and digest):
        raise Fault("Client.FailedAuthentication", "unknown user or no password digest")
    try:
        when = dt.datetime.fromisoformat(created.replace("Z", "+00:00"))
        expected = base64.b64encode(
            hashlib.sha1(base64.b64decode(nonce) + created.encode() + password.encode()).digest()  # noqa: S324 - WS-Security's digest is SHA-1
        ).decode()
    except ValueError:
        raise Fault("Client.FailedAuthentication", "malformed UsernameToken") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    if abs(now - when) > FRESH_FOR or not same(digest, expected):
        raise Fault("Client.FailedAuthentication", "the password digest does not match or is stale")
    if not nonces.first_use(nonce, now):
        raise Fault("Client.FailedAuthentication", "this nonce was used before (a replayed request)")


def create_core_banking_app(db_path: str, password: str, base_url: str) -> Starlette:
    with connect(db_path) as db:
        db.execute(
            "CREATE TABLE IF NOT EXISTS accounts (account_number TEXT PRIMARY KEY, customer_id TEXT,"
            " product_type TEXT, currency TEXT, ledger_balance TEXT, status TEXT, opened_on TEXT)"
        )
        db.executemany("INSERT OR IGNORE INTO accounts VALUES (?,?,?,?,?,?,?)", ACCOUNTS)
        # A table of its own, so a database from an earlier run gains it too.
        db.execute("CREATE TABLE IF NOT EXISTS customers (customer_id TEXT PRIMARY KEY, region TEXT)")
        db.executemany("INSERT OR IGNORE INTO customers VALUES (?,?)", CUSTOMER_REGIONS)
    nonces = SeenNonces()
    wsdl = packaged("core_banking.wsdl").replace("{base_url}", base_url).encode()
    xsd = packaged("core_banking.xsd").encode()

    def customer_accounts(request: etree._Element) -> etree._Element:
        customer = request.findtext(f"{{{TYPES}}}customerId")
        include_closed = request.findtext(f"{{{TYPES}}}includeClosed") in ("true", "1")
        with connect(db_path) as db:
            rows = db.execute(
                "SELECT a.*, c.region FROM accounts a JOIN customers c USING (customer_id)"
                " WHERE a.customer_id = ? ORDER BY account_number",
                (customer,),
            ).fetchall()
        if not rows:
            raise Fault("Client.UnknownCustomer", f"no customer {customer}")
        response = _t("GetCustomerAccountsResponse")
        _child(response, "customerId", customer)
        _child(response, "region", rows[0]["region"])
        for row in rows:
            if row["status"] == "CLOSED" and not include_closed:
                continue
            account = _child(response, "account")
            _child(account, "accountNumber", row["account_number"])
            _child(account, "productType", row["product_type"])
            _child(account, "currency", row["currency"])
            _child(account, "status", row["status"])
            _child(account, "openedOn", row["opened_on"])
        return response

    def account_balance(request: etree._Element) -> etree._Element:
        number = request.findtext(f"{{{TYPES}}}accountNumber")
        with connect(db_path) as db:
            row = db.execute(
                "SELECT a.*, c.region FROM accounts a JOIN customers c USING (customer_id)"
                " WHERE account_number = ?",
                (number,),
            ).fetchone()
        if row is None:
            raise Fault("Client.UnknownAccount", f"no account {number}")
        ledger = Decimal(row["ledger_balance"])
        if row["status"] != "ACTIVE":
            available = Decimal("0.00")
        elif row["product_type"] == "CREDIT_CARD":
            available = CREDIT_LIMIT + ledger
        else:
            available = ledger
        response = _t("GetAccountBalanceResponse")
        _child(response, "accountNumber", number)
        _child(response, "customerId", row["customer_id"])
        _child(response, "region", row["region"])
        _money(response, "ledgerBalance", ledger, row["currency"])
        _money(response, "availableBalance", available, row["currency"])
        _child(response, "asOf", dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))
        return response

    operations = {
        f"{{{TYPES}}}GetCustomerAccountsRequest": customer_accounts,
        f"{{{TYPES}}}GetAccountBalanceRequest": account_balance,
    }

    def answer(raw: bytes) -> tuple[bytes, int]:
        try:
            root = etree.fromstring(raw, etree.XMLParser(resolve_entities=False, no_network=True))
            body = root.find(f"{{{SOAP}}}Body")
            if body is None or len(body) == 0:
                raise Fault("Client", "not a SOAP 1.1 envelope")
            check_username_token(root.find(f"{{{SOAP}}}Header"), password, nonces)
            handler = operations.get(body[0].tag)
            if handler is None:
                raise Fault("Client", f"unknown operation {etree.QName(body[0]).localname}")
            return _envelope(handler(body[0])), 200
        except etree.XMLSyntaxError:
            return _fault(Fault("Client", "the request is not XML")), 500
        except Fault as fault:
            return _fault(fault), 500

    async def soap(request: Request) -> Response:
        payload, status = await run_in_threadpool(answer, await request.body())
        return Response(payload, status_code=status, media_type="text/xml; charset=utf-8")

    return Starlette(
        routes=[
            Route("/healthz", lambda r: JSONResponse({"status": "ok"})),
            Route("/soap", soap, methods=["POST"]),
            Route("/wsdl/core_banking.wsdl", lambda r: Response(wsdl, media_type="text/xml")),
            Route("/wsdl/core_banking.xsd", lambda r: Response(xsd, media_type="text/xml")),
        ]
    )
