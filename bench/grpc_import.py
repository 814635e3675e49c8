"""Benchmark: importing a large gRPC description (200 services × 10 methods by default).

    .venv/bin/python -m bench.grpc_import [--services 200] [--methods 10] [--runs 3]

Generates a FileDescriptorSet (each method with its own request and response message: scalars,
an enum, a nested message, a repeated field, a map, a oneof and well-known types; comments in
the source info) and times the gRPC connector's own load() — read the set, build the
descriptor pool, turn every method into a tool with its schemas — cold (no description cache)
and warm (the description cache holds the tools; the pool is still built).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from google.protobuf import descriptor_pb2

from pasarela.catalog.description_cache import DescriptionCache
from pasarela.config.backends import GrpcBackend
from pasarela.connectors.grpc import GrpcConnector
from pasarela.secrets import Redactor

F = descriptor_pb2.FieldDescriptorProto


def _field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, **more: object
) -> None:
    message.field.add(name=name, number=number, type=kind, label=F.LABEL_OPTIONAL, **more)


def service_file(index: int, methods: int) -> descriptor_pb2.FileDescriptorProto:
    package = f"bench.s{index}.v1"
    file = descriptor_pb2.FileDescriptorProto(
        name=f"bench/s{index}.proto",
        package=package,
        syntax="proto3",
        dependency=["google/protobuf/timestamp.proto", "google/protobuf/wrappers.proto"],
    )
    status = file.enum_type.add(name="Status")
    for number, value in enumerate(("STATUS_UNSPECIFIED", "ACTIVE", "CLOSED", "FROZEN")):
        status.value.add(name=f"{value}_{index}" if number else f"STATUS_UNSPECIFIED_{index}", number=number)
    item = file.message_type.add(name="Item")
    _field(item, "id", 1, F.TYPE_STRING)
    _field(item, "amount", 2, F.TYPE_DOUBLE)
    _field(item, "count", 3, F.TYPE_INT64)
    _field(item, "status", 4, F.TYPE_ENUM, type_name=f".{package}.Status")
    _field(item, "at", 5, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
    service = file.service.add(name=f"Service{index}")
    location = file.source_code_info.location
    for m in range(methods):
        request = file.message_type.add(name=f"Op{m}Request")
        _field(request, "customer_id", 1, F.TYPE_STRING)
        _field(request, "limit", 2, F.TYPE_INT32)
        _field(request, "status", 3, F.TYPE_ENUM, type_name=f".{package}.Status")
        _field(request, "since", 4, F.TYPE_MESSAGE, type_name=".google.protobuf.Timestamp")
        _field(request, "note", 5, F.TYPE_MESSAGE, type_name=".google.protobuf.StringValue")
        _field(request, "by_name", 6, F.TYPE_STRING, oneof_index=0)
        _field(request, "by_number", 7, F.TYPE_INT64, oneof_index=0)
        request.oneof_decl.add(name="key")
        response = file.message_type.add(name=f"Op{m}Response")
        _field(response, "items", 1, F.TYPE_MESSAGE, type_name=f".{package}.Item")
        response.field[-1].label = F.LABEL_REPEATED
        _field(response, "total", 2, F.TYPE_UINT64)
        _field(response, "next_page", 3, F.TYPE_STRING)
        entry = response.nested_type.add(
            name="TagsEntry", options=descriptor_pb2.MessageOptions(map_entry=True)
        )
        _field(entry, "key", 1, F.TYPE_STRING)
        _field(entry, "value", 2, F.TYPE_STRING)
        response.field.add(
            name="tags",
            number=4,
            type=F.TYPE_MESSAGE,
            label=F.LABEL_REPEATED,
            type_name=f".{package}.Op{m}Response.TagsEntry",
        )
        method = service.method.add(
            name=f"Op{m}", input_type=f".{package}.Op{m}Request", output_type=f".{package}.Op{m}Response"
        )
        if m % 3 == 0:
            method.options.idempotency_level = descriptor_pb2.MethodOptions.NO_SIDE_EFFECTS
        if m % 5 == 4:
            method.server_streaming = True
        location.add(
            path=[6, 0, 2, m], span=[0, 0, 1], leading_comments=f" Operation {m} of service {index}.\n"
        )
        location.add(path=[4, 1 + 2 * m, 2, 0], span=[0, 0, 1], leading_comments=" The customer.\n")
    return file


def descriptor_set(services: int, methods: int) -> bytes:
    from google.protobuf import timestamp_pb2, wrappers_pb2

    wkt = []
    for module in (timestamp_pb2, wrappers_pb2):
        proto = descriptor_pb2.FileDescriptorProto()
        module.DESCRIPTOR.CopyToProto(proto)
        wkt.append(proto)
    files = [*wkt, *(service_file(i, methods) for i in range(services))]
    return descriptor_pb2.FileDescriptorSet(file=files).SerializeToString()


async def load_once(directory: Path, cache: DescriptionCache | None) -> tuple[float, int]:
    settings = GrpcBackend.model_validate({"grpc": "127.0.0.1:1", "descriptor_sets": ["big.binpb"]})
    connector = GrpcConnector(
        "big", settings, base_dir=directory, redactor=Redactor(), source="bench", cache=cache
    )
    started = time.perf_counter()
    tools = await connector.load()
    elapsed = time.perf_counter() - started
    await connector.aclose()
    return elapsed, len(tools)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=200)
    parser.add_argument("--methods", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        directory = Path(scratch)
        content = descriptor_set(args.services, args.methods)
        (directory / "big.binpb").write_bytes(content)
        print(
            f"descriptor set: {args.services} services × {args.methods} methods, {len(content) / 1024:.0f} KiB"
        )
        cold = [await load_once(directory, None) for _ in range(args.runs)]
        cache = DescriptionCache(directory / "cache", Redactor())
        await load_once(directory, cache)  # fills the cache
        warm = [await load_once(directory, cache) for _ in range(args.runs)]
    tools = cold[0][1]
    print("| import | tools | median s | runs |\n|---|---|---|---|")
    print(f"| cold (pool + schemas) | {tools} | {statistics.median(t for t, _ in cold):.3f} | {args.runs} |")
    print(
        f"| warm (description cache) | {tools} | {statistics.median(t for t, _ in warm):.3f} | {args.runs} |"
    )


if __name__ == "__main__":
    asyncio.run(main())
