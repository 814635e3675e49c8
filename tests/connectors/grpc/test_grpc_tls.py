"""TLS and mutual TLS to a real server, certificates made in the test, PEM given as secrets or
as files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.errors import ConfigError
from tests.connectors.grpc.certs import authority, issue
from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend, call
from tests.connectors.grpc.lab_server import LabServer, ServerTls
from tests.helpers.gateway import gateway_for

pytestmark = pytest.mark.anyio


def _indent(pem: bytes) -> str:
    return "\n".join("        " + line for line in pem.decode().splitlines())


async def test_tls_with_the_servers_ca_from_a_file(tmp_path: Path, descriptor_set: Path) -> None:
    ca, ca_key = authority()
    server = issue(ca, ca_key, "lab.internal", server=True)
    (tmp_path / "ca.pem").write_bytes(ca.certificate)
    with LabServer(descriptor_set, tls=ServerTls(server.certificate, server.key)) as lab:
        extra = "    tls: {ca_cert: ca.pem, server_name: lab.internal}\n"
        async with gateway_for(tmp_path, NOWHERE, backends=backend(lab, extra), extra=ACCESS) as (client, _):
            answer = await call(client, "Lab_Echo", {"text": "over TLS"})
            assert answer.status_code == 200, answer.text
            assert answer.json()["result"]["text"] == "over TLS"


async def test_mutual_tls_with_pem_given_inline(tmp_path: Path, descriptor_set: Path) -> None:
    ca, ca_key = authority()
    server = issue(ca, ca_key, "localhost", server=True)
    client_pair = issue(ca, ca_key, "pasarela", server=False)
    with LabServer(
        descriptor_set, tls=ServerTls(server.certificate, server.key, client_ca=ca.certificate)
    ) as lab:
        target = f"localhost:{lab.port}"
        extra = (
            "    tls:\n"
            f"      ca_cert: |\n{_indent(ca.certificate)}\n"
            f"      client_cert: |\n{_indent(client_pair.certificate)}\n"
            f"      client_key: |\n{_indent(client_pair.key)}\n"
        )
        async with gateway_for(tmp_path, NOWHERE, backends=backend(target, extra), extra=ACCESS) as (
            client,
            _,
        ):
            answer = await call(client, "Lab_Echo", {"text": "mutual"})
            assert answer.status_code == 200, answer.text


async def test_without_a_client_certificate_the_server_refuses(tmp_path: Path, descriptor_set: Path) -> None:
    ca, ca_key = authority()
    server = issue(ca, ca_key, "localhost", server=True)
    (tmp_path / "ca.pem").write_bytes(ca.certificate)
    with LabServer(
        descriptor_set, tls=ServerTls(server.certificate, server.key, client_ca=ca.certificate)
    ) as lab:
        with pytest.raises(ConfigError) as caught:
            async with gateway_for(
                tmp_path,
                NOWHERE,
                backends=backend(f"localhost:{lab.port}", "    tls: {ca_cert: ca.pem}\n"),
                extra=ACCESS,
            ):
                pass
        assert "backends.lab.grpc: server reflection at localhost:" in str(caught.value)
        assert "UNAVAILABLE" in str(caught.value)


async def test_a_server_certificate_from_another_ca_is_refused(tmp_path: Path, descriptor_set: Path) -> None:
    ca, ca_key = authority()
    other, _ = authority("Someone else")
    server = issue(ca, ca_key, "localhost", server=True)
    (tmp_path / "other.pem").write_bytes(other.certificate)
    with LabServer(descriptor_set, tls=ServerTls(server.certificate, server.key)) as lab:
        with pytest.raises(ConfigError) as caught:
            async with gateway_for(
                tmp_path,
                NOWHERE,
                backends=backend(f"localhost:{lab.port}", "    tls: {ca_cert: other.pem}\n"),
                extra=ACCESS,
            ):
                pass
        assert "UNAVAILABLE" in str(caught.value)


async def test_a_missing_certificate_file_names_its_key(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(
            tmp_path,
            NOWHERE,
            backends=backend("127.0.0.1:1", "    tls: {ca_cert: nowhere.pem}\n"),
            extra=ACCESS,
        ):
            pass
    assert "backends.lab.tls.ca_cert: cannot read" in str(caught.value)
    assert "nowhere.pem" in str(caught.value)
