"""The demo bank's transactions: a SQL database (SQLite by default, PostgreSQL on request).

`pasarela demo` creates and fills the `bank_transactions` table before the gateway starts; the
gateway then reaches it through a `sql:` backend with declared, read-only queries. Filling is
idempotent, so a database reused between runs keeps one copy of each transaction.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

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


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{path.resolve()}"


async def prepare(url: str) -> None:
    """Create and fill the table at `url` (sqlite:///… or postgresql://…)."""
    parsed = make_url(url)
    family = parsed.drivername.split("+", 1)[0]
    family = "postgresql" if family == "postgres" else family
    if family not in ("sqlite", "postgresql"):
        raise TransactionsUnavailable(
            f"the demo's transactions need sqlite:// or postgresql://, not {family}://"
        )
    engine = create_async_engine(parsed.set(drivername=DRIVERS[family]))
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
        where = parsed.render_as_string(hide_password=True)
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise TransactionsUnavailable(f"cannot prepare the transactions database {where}: {reason}") from None
    finally:
        await engine.dispose()
