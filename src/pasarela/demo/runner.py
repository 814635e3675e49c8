"""`pasarela demo`: the sample bank's systems as child processes, and a gateway in front.

Every key and token is generated at start and handed over through environment secrets,
so nothing sensitive is written to disk and each run has its own.
"""

from __future__ import annotations

import base64
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import anyio
from sqlalchemy.engine import make_url

from pasarela.config import LoadedConfig, load_config
from pasarela.config.loader import load_config_text
from pasarela.demo import optional
from pasarela.demo.latency import check_latency
from pasarela.demo.transactions import TransactionsUnavailable, prepare, sqlite_url
from pasarela.errors import ConfigError, PasarelaError
from pasarela.server.serve import serve_http
from pasarela.state import open_state
from pasarela.telemetry import configure_logging

PRINCIPALS = ("support-bot", "sales-bot", "compliance-bot", "ops-admin")  # ops-admin: the console
STARTUP_TIMEOUT = 60.0  # seconds; nine systems start at once, on a busy machine too


GRPC_SYSTEMS = frozenset({"pricing"})  # the rest speak HTTP


@dataclass(frozen=True, slots=True)
class DemoSystem:
    name: str
    port: int
    database: Path
    token: str

    @property
    def url(self) -> str:
        if self.name in GRPC_SYSTEMS:
            return f"127.0.0.1:{self.port}"  # a gRPC target
        return f"http://127.0.0.1:{self.port}"


def demo_config() -> LoadedConfig:
    """The demo configuration, less the systems whose library is missing (demo/optional.py)."""
    path = config_path()
    absent = optional.missing()
    if not absent:
        return load_config(path)
    return load_config_text(
        optional.without(path.read_text(encoding="utf-8"), *absent), source=str(path), base_dir=path.parent
    )


def config_path() -> Path:
    """The demo configuration: packaged in wheels, or examples/bank/ in a source checkout."""
    packaged = Path(__file__).with_name("bank.yaml")
    if packaged.exists():
        return packaged
    return Path(__file__).resolve().parents[3] / "examples" / "bank" / "pasarela.yaml"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _secret_env_name(principal: str) -> str:
    return "PASARELA_SECRET_DEMO_" + principal.upper().replace("-", "_") + "_KEY"


def start_system(system: DemoSystem) -> subprocess.Popen[bytes]:
    env = {**os.environ, "DEMO_SYSTEM_TOKEN": system.token}
    module = (
        ["pasarela.demo.pricing"] if system.name in GRPC_SYSTEMS else ["pasarela.demo.systems", system.name]
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            *module,
            "--port",
            str(system.port),
            "--db",
            str(system.database),
        ],
        env=env,
    )


def wait_until_up(systems: list[DemoSystem], processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT
    for system, process in zip(systems, processes, strict=True):
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the demo {system.name} exited during start-up (code {process.returncode})"
                )
            if _answers(system):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"the demo {system.name} did not start within {STARTUP_TIMEOUT:g}s")
            time.sleep(0.1)


def _answers(system: DemoSystem) -> bool:
    """The system answers its health check (HTTP /healthz, or the standard gRPC health service)."""
    if system.name in GRPC_SYSTEMS:
        import grpc
        from grpc_health.v1 import health_pb2

        with grpc.insecure_channel(system.url) as channel:
            check = channel.unary_unary(
                "/grpc.health.v1.Health/Check",
                request_serializer=health_pb2.HealthCheckRequest.SerializeToString,
                response_deserializer=health_pb2.HealthCheckResponse.FromString,
            )
            try:
                answer = check(health_pb2.HealthCheckRequest(), timeout=1.0)
            except grpc.RpcError:
                return False
            return bool(answer.status == health_pb2.HealthCheckResponse.SERVING)
    try:
        with urllib.request.urlopen(f"{system.url}/healthz", timeout=1.0) as response:  # noqa: S310 - our own loopback URL
            return bool(response.status == 200)
    except OSError:
        return False


def stop_all(processes: list[subprocess.Popen[bytes]]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def banner(
    gateway_url: str,
    keys: dict[str, str],
    systems: dict[str, tuple[str, int]],
    transactions: str,
    webhook_log: Path | str = "webhooks.log",
) -> str:
    support_key = keys["support-bot"]
    lines = [
        "",
        "Pasarela demo bank is running (Ctrl-C stops everything).",
        *(
            f"System {name}: {url} (pid {pid}; stop it to see fallbacks)"
            for name, (url, pid) in systems.items()
        ),
        f"Transactions database: {make_url(transactions).render_as_string(hide_password=True)}",
        f"MCP URL:  {gateway_url}/mcp",
        f"REST URL: {gateway_url}/v1",
        f"Console:  {gateway_url}/admin (log in with the ops-admin key)",
        *(f"API key ({principal}): {key}" for principal, key in keys.items()),
        "",
        "Try:",
        f"  curl -s -H 'Authorization: Bearer {support_key}' {gateway_url}/v1/tools",
        f"  curl -s -H 'Authorization: Bearer {support_key}' -H 'Content-Type: application/json' \\",
        f'       -d \'{{"arguments": {{"customer_id": "12345", "region": "EU"}}}}\' {gateway_url}/v1/tools/get_customer_info:call',
        "  Then ask an MCP client connected as support-bot: what is John Doe's account balance",
        "  and are his loans in good standing? (CRM over REST, core banking over SOAP,",
        "  transactions in SQL, loans over GraphQL.) Or in one call: customer_overview",
        "  (stop the credit bureau's pid and it answers the rest, marked partial).",
        "  As sales-bot: get_product_price (the pricing engine, over gRPC; never cached), and",
        "  ask_product_advisor (an A2A agent) which loan fits a customer: it streams its progress,",
        "  then names the product to price.",
        "  As compliance-bot, a 20-second report as a job (progress, then the result):",
        f"  curl -s -H 'Authorization: Bearer {keys['compliance-bot']}' -H 'Content-Type: application/json' \\",
        f'       -d \'{{"arguments": {{"customer_id": "12345", "period": "2026-10"}}}}\' '
        f"{gateway_url}/v1/tools/generate_statement_report:start",
        f"  then GET {gateway_url}/v1/jobs/<id> (or /v1/jobs/<id>/result?wait=30s) with the same key.",
        "  Its end arrives as a signed webhook at the demo's receiver, which verifies it and writes",
        f"  it to {webhook_log}",
        "",
    ]
    return "\n".join(lines)


def _credential(system: str) -> str:
    """Each system's own credential; the webhook receiver's is a Standard Webhooks secret."""
    if system == "webhook_receiver":
        return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    return secrets.token_urlsafe(24)


def _transactions_url(postgres: str | None, data: Path) -> str:
    if postgres is None:
        return sqlite_url(data / "transactions.db")
    if not postgres.startswith(("postgresql://", "postgres://", "postgresql+asyncpg://")):
        raise TransactionsUnavailable(
            f"--postgres expects a postgresql:// URL, got {postgres.split(':', 1)[0]}:…"
        )
    return (
        "postgresql://" + postgres.removeprefix("postgres://")
        if postgres.startswith("postgres://")
        else postgres
    )


async def upgrade_state(loaded: LoadedConfig) -> None:
    store = await open_state(loaded.settings.state, loaded.base_dir, source=loaded.source, schema="upgrade")
    await store.aclose()


def run_demo(*, port: int, data_dir: Path | None, postgres: str | None = None) -> int:
    with tempfile.TemporaryDirectory(prefix="pasarela-demo-") as scratch:
        data = data_dir or Path(scratch)
        data.mkdir(parents=True, exist_ok=True)
        names = ["crm", "ticketing", "core_banking", "loans", "credit_bureau", "reports", "webhook_receiver"]
        absent = optional.missing()
        for system in absent:
            sys.stderr.write(system.notice())
        names += [name for name in optional.OPTIONAL if optional.OPTIONAL[name] not in absent]
        systems = [DemoSystem(name, free_port(), data / f"{name}.db", _credential(name)) for name in names]
        by_name = {system.name: system for system in systems}
        crm, ticketing, core_banking = by_name["crm"], by_name["ticketing"], by_name["core_banking"]
        loans, credit_bureau, reports = by_name["loans"], by_name["credit_bureau"], by_name["reports"]
        check_latency(os.environ.get("PASARELA_DEMO_LATENCY"), [system.name for system in systems])
        extras: dict[str, str] = {}
        if "pricing" in by_name:
            extras["PASARELA_DEMO_PRICING_TARGET"] = by_name["pricing"].url
            extras["PASARELA_SECRET_DEMO_PRICING_TOKEN"] = by_name["pricing"].token
        if "product_advisor" in by_name:
            extras["PASARELA_DEMO_PRODUCT_ADVISOR_URL"] = by_name["product_advisor"].url
            extras["PASARELA_SECRET_DEMO_PRODUCT_ADVISOR_TOKEN"] = by_name["product_advisor"].token
        keys = {principal: "demo_" + secrets.token_urlsafe(24) for principal in PRINCIPALS}
        processes: list[subprocess.Popen[bytes]] = []
        try:
            transactions = _transactions_url(postgres, data)
            anyio.run(prepare, transactions)
            processes = [start_system(system) for system in systems]
            wait_until_up(systems, processes)
            os.environ.update(
                {
                    "PASARELA_DEMO_DATA": str(data.resolve()),
                    "PASARELA_DEMO_CRM_URL": crm.url,
                    "PASARELA_DEMO_TICKETING_URL": ticketing.url,
                    "PASARELA_DEMO_CORE_BANKING_URL": core_banking.url,
                    "PASARELA_DEMO_LOANS_URL": loans.url,
                    "PASARELA_DEMO_CREDIT_BUREAU_URL": credit_bureau.url,
                    "PASARELA_DEMO_REPORTS_URL": reports.url,
                    "PASARELA_DEMO_WEBHOOK_URL": by_name["webhook_receiver"].url,
                    "PASARELA_SECRET_DEMO_WEBHOOK_SECRET": by_name["webhook_receiver"].token,
                    "PASARELA_SECRET_DEMO_CRM_API_KEY": crm.token,
                    "PASARELA_SECRET_DEMO_TICKETING_TOKEN": ticketing.token,
                    "PASARELA_SECRET_DEMO_CORE_BANKING_PASSWORD": core_banking.token,
                    "PASARELA_SECRET_DEMO_LOANS_TOKEN": loans.token,
                    "PASARELA_SECRET_DEMO_CREDIT_BUREAU_KEY": credit_bureau.token,
                    "PASARELA_SECRET_DEMO_REPORTS_TOKEN": reports.token,
                    **extras,
                    # A database URL may hold a password: a secret, so logs and errors mask it.
                    "PASARELA_SECRET_DEMO_TRANSACTIONS_DB": transactions,
                    # Set it yourself to verify the demo's audit checkpoints after it stops.
                    "PASARELA_SECRET_DEMO_AUDIT_KEY": os.environ.get("PASARELA_SECRET_DEMO_AUDIT_KEY")
                    or secrets.token_urlsafe(32),
                    **{_secret_env_name(p): key for p, key in keys.items()},
                }
            )
            loaded = demo_config()
            configure_logging(loaded.redactor, level="warning", fmt="console")
            # The demo owns its data directory: one left by an older version is brought up to date
            # (a real gateway refuses, and the operator runs `pasarela state migrate`).
            anyio.run(upgrade_state, loaded)

            def ready(url: str) -> None:
                running = {s.name: (s.url, p.pid) for s, p in zip(systems, processes, strict=True)}
                log = data.resolve() / "webhooks.log"
                sys.stdout.write(banner(url, keys, running, transactions, log) + "\n")
                sys.stdout.flush()

            anyio.run(
                lambda: serve_http(loaded, None, port, on_ready=ready, reload=demo_config),
                backend_options={"use_uvloop": True},
            )
        except ConfigError as exc:
            sys.stderr.write(f"the demo configuration is broken:\n{exc}\n")
            return 1
        except PasarelaError as exc:
            sys.stderr.write(f"{exc.detail}\n")
            return 1
        except ModuleNotFoundError as exc:
            sys.stderr.write(
                f"--postgres needs the PostgreSQL driver ({exc.name}): pip install 'pasarela[postgres]'\n"
            )
            return 1
        except RuntimeError as exc:  # TransactionsUnavailable, a system that did not start
            sys.stderr.write(f"{exc}\n")
            return 1
        except KeyboardInterrupt:
            pass
        finally:
            stop_all(processes)
    return 0
