"""Bad gRPC backend settings are reported with the key path and what was expected."""

from __future__ import annotations

from pathlib import Path

import pytest

from pasarela.config import load_config
from pasarela.errors import ConfigError
from tests.connectors.grpc.helpers import ACCESS, NOWHERE, backend
from tests.connectors.grpc.lab_server import PROTOS, LabServer
from tests.helpers.gateway import ENV, gateway_for, write_config

pytestmark = pytest.mark.anyio


def problems_of(tmp_path: Path, extra: str, target: str = "127.0.0.1:1") -> str:
    config = write_config(tmp_path, NOWHERE, backends=backend(target, extra), extra=ACCESS)
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ=ENV)
    return str(caught.value)


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        (
            "    reflection: true\n    descriptor_sets: [a.binpb]\n",
            "reflection: true and descriptor_sets both",
        ),
        (
            "    descriptor_sets: [a.binpb]\n    protos: [a.proto]\n",
            "give descriptor_sets or protos, not both",
        ),
        ("    reflection: false\n", "without reflection, give descriptor_sets or protos"),
        ("    include_paths: [protos]\n", "include_paths are for protos"),
        ("    metadata: {Bad Key: x}\n", "is not a gRPC metadata key"),
        ("    metadata: {grpc-timeout: 1S}\n", "is set by gRPC itself"),
        ("    metadata: {x-trace-bin: abc}\n", "binary metadata"),
        ("    tls: {client_cert: a.pem}\n", "client_cert and client_key go together"),
        ("    max_messages: 0\n", "max_messages"),
        ("    headers: {X-A: b}\n", "unknown key for grpc backends"),
    ],
)
def test_bad_settings_name_their_key(tmp_path: Path, extra: str, expected: str) -> None:
    assert expected in problems_of(tmp_path, extra)


def test_a_url_is_not_a_target_and_oauth2_is_not_metadata(tmp_path: Path) -> None:
    assert "a gRPC target is host:port" in problems_of(tmp_path, "", target="https://pricing.bank")
    oauth = "    auth:\n      oauth2_client_credentials: {token_url: https://idp, client_id: a, client_secret: b}\n"
    config = write_config(tmp_path, NOWHERE, backends=backend("127.0.0.1:1", oauth, token=None), extra=ACCESS)
    with pytest.raises(ConfigError) as caught:
        load_config(config, environ=ENV)
    assert "backends.lab.auth: gRPC backends take bearer, basic or a header api_key" in str(caught.value)


async def test_missing_files_name_their_index(tmp_path: Path) -> None:
    for extra, expected in [
        ("    descriptor_sets: [nowhere.binpb]\n", "backends.lab.descriptor_sets[0]: cannot read"),
        ("    protos: [nowhere.proto]\n", "backends.lab.protos[0]: no such file"),
    ]:
        with pytest.raises(ConfigError) as caught:
            async with gateway_for(tmp_path, NOWHERE, backends=backend("127.0.0.1:1", extra), extra=ACCESS):
                pass
        assert expected in str(caught.value)


async def test_a_file_that_is_no_descriptor_set_is_named(tmp_path: Path) -> None:
    (tmp_path / "lab.binpb").write_text("syntax = 'proto3';")
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(
            tmp_path,
            NOWHERE,
            backends=backend("127.0.0.1:1", "    descriptor_sets: [lab.binpb]\n"),
            extra=ACCESS,
        ):
            pass
    assert "backends.lab.descriptor_sets[0]:" in str(caught.value)
    assert "is not a FileDescriptorSet" in str(caught.value)


async def test_proto_compile_errors_name_the_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "broken.proto").write_text(
        'syntax = "proto3";\npackage broken;\n\nmessage A {\n  Missing m = 1;\n  int32 = 2;\n}\n'
    )
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(
            tmp_path, NOWHERE, backends=backend("127.0.0.1:1", "    protos: [broken.proto]\n"), extra=ACCESS
        ):
            pass
    text = str(caught.value)
    assert f"backends.lab.protos[0]: does not compile: {tmp_path / 'broken.proto'}:6:" in text
    assert "Expected field name" in text


async def test_an_import_that_is_not_found_is_named(tmp_path: Path) -> None:
    (tmp_path / "lonely.proto").write_text('syntax = "proto3";\nimport "nowhere.proto";\nmessage A {}\n')
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(
            tmp_path, NOWHERE, backends=backend("127.0.0.1:1", "    protos: [lonely.proto]\n"), extra=ACCESS
        ):
            pass
    assert "nowhere.proto" in str(caught.value) and ":2:" in str(caught.value)


async def test_a_descriptor_set_missing_an_import_says_so(tmp_path: Path) -> None:
    import subprocess
    import sys

    subprocess.run(
        [
            sys.executable, "-m", "grpc_tools.protoc", f"--proto_path={PROTOS}",
            f"--descriptor_set_out={tmp_path / 'other.binpb'}", str(PROTOS / "other.proto"),
        ],
        check=True,
    )  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(
            tmp_path,
            NOWHERE,
            backends=backend("127.0.0.1:1", "    descriptor_sets: [other.binpb]\n"),
            extra=ACCESS,
        ):
            pass
    assert "backends.lab.descriptor_sets: other.proto imports lab.proto" in str(caught.value)
    assert "--include_imports" in str(caught.value)


async def test_a_server_without_reflection_asks_for_files(
    tmp_path: Path, lab_without_reflection: LabServer
) -> None:
    with pytest.raises(ConfigError) as caught:
        async with gateway_for(tmp_path, NOWHERE, backends=backend(lab_without_reflection), extra=ACCESS):
            pass
    assert "UNIMPLEMENTED" in str(caught.value)
    assert "the server offers no reflection: set descriptor_sets or protos" in str(caught.value)
