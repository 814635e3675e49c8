"""A real grpcio server for the tests: the Lab service of tests/fixtures/grpc/lab.proto, built
from its descriptor set with dynamic messages (no generated code), with the standard health
service, reflection (optional), a bearer token checked as metadata, and TLS (optional)."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import grpc
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from tests.conftest import FIXTURES
from tests.helpers.gateway import BACKEND_TOKEN

PROTOS = FIXTURES / "grpc"
TOKEN = BACKEND_TOKEN  # ${secret:ITEMS_TOKEN} in the test configuration: a known secret
LAB = "testing.v1.Lab"
OTHER = "testing.v2.Other"


def compile_descriptor_set(output: Path, *, include_imports: bool = True) -> Path:
    """lab.proto and other.proto as one FileDescriptorSet (comments kept), made by protoc."""
    import subprocess

    subprocess.run(
        [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"--proto_path={PROTOS}",
            *(["--include_imports"] if include_imports else []),
            "--include_source_info",
            f"--descriptor_set_out={output}",
            str(PROTOS / "lab.proto"),
            str(PROTOS / "other.proto"),
        ],
        check=True,
    )
    return output


@dataclass
class ServerTls:
    certificate: bytes
    key: bytes
    client_ca: bytes | None = None  # set: clients must present a certificate it signed


@dataclass
class LabServer:
    descriptor_set: Path
    reflection: bool = True
    token: str | None = TOKEN
    tls: ServerTls | None = None
    port: int = 0
    seen: list[dict[str, str]] = field(default_factory=list)  # the metadata of each Lab call
    calls: int = 0
    _server: Any = None
    _health: Any = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        files = descriptor_pb2.FileDescriptorSet.FromString(self.descriptor_set.read_bytes()).file
        self.pool = descriptor_pool.DescriptorPool()
        for file in files:
            self.pool.Add(file)

    def message(self, name: str) -> type[Message]:
        return message_factory.GetMessageClass(self.pool.FindMessageTypeByName(name))

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _check(self, context: grpc.ServicerContext) -> None:
        metadata = {key: value for key, value in context.invocation_metadata() if isinstance(value, str)}
        with self._lock:
            self.seen.append(metadata)
            self.calls += 1
        if self.token is not None and metadata.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "no valid token")

    # -- the Lab's methods -------------------------------------------------------------------

    def echo(self, request: Message, context: grpc.ServicerContext) -> Message:
        self._check(context)
        return request

    def fail(self, request: Any, context: grpc.ServicerContext) -> Message:
        self._check(context)
        context.abort(grpc.StatusCode[request.code], request.message)
        raise AssertionError("abort raises")

    def slow(self, request: Any, context: grpc.ServicerContext) -> Message:
        self._check(context)
        started = time.monotonic()
        while time.monotonic() - started < request.seconds and context.is_active():
            time.sleep(0.01)
        return self.message("testing.v1.SlowReply")(slept=time.monotonic() - started)

    def count(self, request: Any, context: grpc.ServicerContext) -> Iterator[Message]:
        self._check(context)
        tick = self.message("testing.v1.Tick")
        for n in range(1, request.up_to + 1):
            if request.delay:
                time.sleep(request.delay)
            if not context.is_active():
                return
            yield tick(n=n)
        if request.then_fail:
            context.abort(grpc.StatusCode[request.then_fail], "the stream broke")

    def upload(self, requests: Iterator[Message], context: grpc.ServicerContext) -> Message:
        self._check(context)
        return self.message("google.protobuf.Empty")()

    def chat(self, requests: Iterator[Message], context: grpc.ServicerContext) -> Iterator[Message]:
        self._check(context)
        yield from requests

    def who_am_i(self, request: Message, context: grpc.ServicerContext) -> Message:
        self._check(context)
        identity: Any = self.message("testing.v1.Identity")()
        for key, value in context.invocation_metadata():
            if isinstance(value, str):
                identity.metadata[key] = value
        return identity  # type: ignore[no-any-return]

    # -- serving -----------------------------------------------------------------------------

    def _handlers(self) -> list[grpc.GenericRpcHandler]:
        def unary(method: Any, request: str, response: str) -> grpc.RpcMethodHandler[Any, Any]:
            return grpc.unary_unary_rpc_method_handler(
                method,
                request_deserializer=self.message(request).FromString,
                response_serializer=self.message(response).SerializeToString,
            )

        def streaming(kind: Any, method: Any, request: str, response: str) -> grpc.RpcMethodHandler[Any, Any]:
            return kind(  # type: ignore[no-any-return]
                method,
                request_deserializer=self.message(request).FromString,
                response_serializer=self.message(response).SerializeToString,
            )

        everything, nested, empty = "testing.v1.Everything", "testing.v1.Nested", "google.protobuf.Empty"
        stamp = "google.protobuf.Timestamp"
        lab = {
            "Echo": unary(self.echo, everything, everything),
            "Fail": unary(self.fail, "testing.v1.FailRequest", empty),
            "Slow": unary(self.slow, "testing.v1.SlowRequest", "testing.v1.SlowReply"),
            "Count": streaming(
                grpc.unary_stream_rpc_method_handler, self.count, "testing.v1.CountRequest", "testing.v1.Tick"
            ),
            "Upload": streaming(grpc.stream_unary_rpc_method_handler, self.upload, nested, empty),
            "Chat": streaming(grpc.stream_stream_rpc_method_handler, self.chat, nested, nested),
            "WhoAmI": unary(self.who_am_i, empty, "testing.v1.Identity"),
            "Stamp": unary(self.echo, stamp, stamp),
        }
        other = {"Echo": unary(self.echo, nested, nested)}
        return [
            grpc.method_handlers_generic_handler(LAB, lab),
            grpc.method_handlers_generic_handler(OTHER, other),
        ]

    def set_health(self, status: int, service: str = "") -> None:
        self._health.set(service, status)

    def __enter__(self) -> LabServer:
        server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        server.add_generic_rpc_handlers(self._handlers())
        self._health = health.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self._health, server)
        self.set_health(health_pb2.HealthCheckResponse.SERVING)
        if self.reflection:
            names = (LAB, OTHER, health.SERVICE_NAME, reflection.SERVICE_NAME)
            reflection.enable_server_reflection(names, server, pool=self.pool)
        address = f"127.0.0.1:{self.port}"
        if self.tls is None:
            self.port = server.add_insecure_port(address)
        else:
            credentials = grpc.ssl_server_credentials(
                [(self.tls.key, self.tls.certificate)],
                root_certificates=self.tls.client_ca,
                require_client_auth=self.tls.client_ca is not None,
            )
            self.port = server.add_secure_port(address, credentials)
        server.start()
        self._server = server
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._server.stop(grace=None)
