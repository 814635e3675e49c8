"""The demo bank's transactions: a SQL database (SQLite by default, PostgreSQL on request).

`pasarela demo` creates and fills the `bank_transactions` table before the gateway starts; the
gateway then reaches it through a `sql:` backend with declared, read-only queries. Filling is
idempotent, so a database reused between runs keeps one copy of each transaction.

A transaction booked while the demo runs is captured as a `transaction_booked` event:

    python -m pasarela.demo.transactions book --db URL ACC-1001 -12.50 Coffee
"""

from __future__ import annotations

import argparse
import datetime as dt
import secrets
from decimal import Decimal
from pathlib import Path
from typing import Any

import anyio
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import create_async_engine

from pasarela.connectors.sql.connector import DRIVERS

TABLE = "bank_transactions"
# id, account, booked at (UTC), amount, currency, description, counterparty
TRANSACTIONS = [
    ("TX-100001", "ACC-1001", "2026-11-20T09:15:00", "-54.20", "EUR", "Groceries", "Mercado Central"),
    ("TX-100002", "ACC-1001", "2026-11-18T18:02:00", "-1200.00", "EUR", "Rent November", "Lettings Ltd"),
    ("TX-100003", "ACC-1001", "2026-11-15T08:00:00", "3150.00", "EUR", "Salary", "Acme Industries"),
    ("TX-100004", "ACC-1001", "2026-11-12T12:40:00", "-1150.00", "EUR", "Mortgage instalment", "Demo Bank"),
    ("TX-100005", "ACC-1001", "2026-11-05T07:30:00", "-355.20", "EUR", "Loan instalment", "Demo Bank"),
    ("TX-100006", "ACC-1001", "2026-11-03T19:45:00", "-23.90", "EUR", "Streaming", "Streamflix"),
    ("TX-100007", "ACC-1002", "2026-11-15T08:05:00", "500.00", "EUR", "Monthly saving", "ACC-1001"),
    ("TX-100008", "ACC-1002", "2026-10-31T23:59:00", "38.10", "EUR", "Interest", "Demo Bank"),
    ("TX-100009", "ACC-1003", "2026-11-19T14:22:00", "-89.99", "EUR", "Electronics", "Tech Store"),
    ("TX-100010", "ACC-1003", "2026-11-10T20:10:00", "-222.41", "EUR", "Flights", "Sky Air"),
    ("TX-200001", "ACC-2001", "2026-11-16T10:00:00", "-5000.00", "EUR", "Transfer", "Garcia Holdings"),
    ("TX-300001", "ACC-3001", "2026-11-14T03:30:00", "-690.00", "SGD", "Car loan (returned)", "Demo Bank"),
    ("TX-400001", "ACC-4001", "2026-11-17T16:45:00", "-12.50", "USD", "Coffee", "Bean There"),
    ("TX-500001", "ACC-5001", "2026-11-13T11:11:00", "-75.00", "EUR", "Utilities", "Stadtwerke"),
]

# Whose each account is (the holder and their region), joined to transactions by the queries.
ACCOUNTS_TABLE = "bank_accounts"
ACCOUNT_HOLDERS = [
    ("ACC-1001", "12345", "EU"),
    ("ACC-1002", "12345", "EU"),
    ("ACC-1003", "12345", "EU"),
    ("ACC-1004", "12345", "EU"),
    ("ACC-2001", "23456", "EU"),
    ("ACC-3001", "34567", "APAC"),
    ("ACC-3002", "34567", "APAC"),
    ("ACC-4001", "45678", "US"),
    ("ACC-5001", "56789", "EU"),
]


class TransactionsUnavailable(RuntimeError):
    """The transactions database could not be prepared; the message says why."""


def _family(url: str) -> tuple[Any, str]:
    parsed = make_url(url)
    family = parsed.drivername.split("+", 1)[0]
    family = "postgresql" if family == "postgres" else family
    if family not in ("sqlite", "postgresql"):
        raise TransactionsUnavailable(
            f"the demo's transactions need sqlite:// or postgresql://, not {family}://"
        )
    return parsed.set(drivername=DRIVERS[family]), family


async def book(url: str, account: str, amount: str, description: str, counterparty: str = "") -> str:
    """Book one transaction now (as the bank's core system would); its id."""
    parsed, family = _family(url)
    postgres = family == "postgresql"
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    row = {
        "id": f"TX-{secrets.randbelow(900000) + 100000}",
        "account": account,
        "booked": now if postgres else now.isoformat(),  # the same text form as the rows prepared
        "amount": Decimal(amount) if postgres else float(amount),
        "currency": "EUR",
        "description": description,
        "counterparty": counterparty or None,
    }
    engine = create_async_engine(parsed)
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    f"INSERT INTO {TABLE} VALUES (:id, :account, :booked, :amount, :currency,"  # noqa: S608 - our own table
                    " :description, :counterparty)"
                ),
                row,
            )
    finally:
        await engine.dispose()
    return str(row["id"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m pasarela.demo.transactions")
    commands = parser.add_subparsers(dest="command", required=True)
    booking = commands.add_parser("book", help="book a transaction now")
    booking.add_argument("--db", required=True, help="the transactions database (the demo's banner names it)")
    booking.add_argument("account", help="e.g. ACC-1001")
    booking.add_argument("amount", help="e.g. -12.50 (negative: money out)")
    booking.add_argument("description", nargs="?", default="Booked by hand")
    args = parser.parse_args(argv)
    try:
        Decimal(args.amount)
    except ArithmeticError:
        parser.error(f"amount: {args.amount!r} is not a number, e.g. -12.50")
    print(anyio.run(book, args.db, args.account, args.amount, args.description))


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


async def prepare(url: str) -> None:
    """Create and fill the table at `url` (sqlite:///… or postgresql://…)."""
    parsed, family = _family(url)
    engine = create_async_engine(parsed)
    postgres = family == "postgresql"
    booked_type = "TIMESTAMP WITH TIME ZONE" if postgres else "TEXT"
    ignore = (
        "INSERT INTO {t} VALUES ({v}) ON CONFLICT DO NOTHING"
        if postgres
        else "INSERT OR IGNORE INTO {t} VALUES ({v})"
    )
    rows: list[dict[str, Any]] = []
    for tx_id, account, booked, amount, currency, description, counterparty in TRANSACTIONS:
        when = dt.datetime.fromisoformat(booked).replace(tzinfo=dt.UTC)
        rows.append(
            {
                "id": tx_id,
                "account": account,
                "booked": when if postgres else when.isoformat(),
                "amount": Decimal(amount) if postgres else float(amount),
                "currency": currency,
                "description": description,
                "counterparty": counterparty,
            }
        )
    try:
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {TABLE} (transaction_id VARCHAR(20) PRIMARY KEY,"
                    f" account_id VARCHAR(20) NOT NULL, booked_at {booked_type} NOT NULL,"
                    " amount NUMERIC(14, 2) NOT NULL, currency CHAR(3) NOT NULL,"
                    " description VARCHAR(200), counterparty VARCHAR(200))"
                )
            )
            await connection.execute(
                text(
                    ignore.format(
                        t=TABLE, v=":id, :account, :booked, :amount, :currency, :description, :counterparty"
                    )
                ),
                rows,
            )
            await connection.execute(
                text(
                    f"CREATE TABLE IF NOT EXISTS {ACCOUNTS_TABLE} (account_id VARCHAR(20) PRIMARY KEY,"
                    " customer_id VARCHAR(20) NOT NULL, region VARCHAR(8) NOT NULL)"
                )
            )
            await connection.execute(
                text(ignore.format(t=ACCOUNTS_TABLE, v=":account, :customer, :region")),
                [{"account": a, "customer": c, "region": r} for a, c, r in ACCOUNT_HOLDERS],
            )
    except (OSError, SQLAlchemyError) as exc:
        where = make_url(url).render_as_string(hide_password=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TransactionsUnavailable(f"cannot prepare the transactions database {where}: {reason}") from None
    finally:
        await engine.dispose()


if __name__ == "__main__":
    main()
