"""File descriptors → one descriptor pool, and the comments they carry.

Descriptors come from descriptor set files, from .proto files compiled by protoc, or from the
server's reflection service; whichever, they end up as FileDescriptorProtos that are added to a
private pool (never the process's default pool, so two backends with clashing names cannot
meet) in dependency order. Messages are built from the pool at run time: no generated code.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

from google.protobuf import (
    any_pb2,
    descriptor_pb2,
    descriptor_pool,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
)
from google.protobuf.message import DecodeError

# The well-known types are taken from the protobuf runtime when a descriptor set leaves them out
# (protoc without --include_imports); importing their modules puts them in the default pool.
WELL_KNOWN_MODULES = (
    any_pb2,
    duration_pb2,
    empty_pb2,
    field_mask_pb2,
    struct_pb2,
    timestamp_pb2,
    wrappers_pb2,
    descriptor_pb2,
)

# Paths in SourceCodeInfo (descriptor.proto field numbers).
_MESSAGE, _ENUM, _SERVICE = 4, 5, 6
_FIELD, _NESTED, _NESTED_ENUM = 2, 3, 4
_ENUM_VALUE, _METHOD = 2, 2


# Services gRPC itself serves: never tools, and not worth describing.
INFRASTRUCTURE = ("grpc.reflection.", "grpc.health.", "grpc.channelz.")


def infrastructure(service: str) -> bool:
    return service.startswith(INFRASTRUCTURE)


class DescriptorError(ValueError):
    """Descriptors that cannot be read or do not fit together; says which file and why."""


def read_descriptor_set(path: Path) -> list[descriptor_pb2.FileDescriptorProto]:
    try:
        content = path.read_bytes()
    except OSError as exc:
        raise DescriptorError(f"cannot read {path}: {exc.strerror}") from None
    try:
        parsed = descriptor_pb2.FileDescriptorSet.FromString(content)
    except DecodeError:
        raise DescriptorError(
            f"{path} is not a FileDescriptorSet (make one with protoc --descriptor_set_out=FILE --include_imports)"
        ) from None
    if not parsed.file:
        raise DescriptorError(f"{path} holds no file descriptors")
    return list(parsed.file)


def build_pool(files: Sequence[descriptor_pb2.FileDescriptorProto]) -> descriptor_pool.DescriptorPool:
    """A new pool holding `files` (and the well-known types they import but do not include)."""
    by_name: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for file in files:
        known = by_name.get(file.name)
        if known is not None and known.SerializeToString(deterministic=True) != file.SerializeToString(
            deterministic=True
        ):
            raise DescriptorError(f"two different descriptors of {file.name}")
        by_name.setdefault(file.name, file)
    pool = descriptor_pool.DescriptorPool()
    for file in _dependency_order(by_name):
        try:
            pool.Add(file)
        except TypeError as exc:  # upb's way of saying the descriptor does not resolve
            detail = str(exc).removeprefix("Couldn't build proto file into descriptor pool: ")
            raise DescriptorError(f"{file.name}: {detail}") from None
    return pool


def _dependency_order(
    by_name: dict[str, descriptor_pb2.FileDescriptorProto],
) -> list[descriptor_pb2.FileDescriptorProto]:
    ordered: list[descriptor_pb2.FileDescriptorProto] = []
    state: dict[str, str] = {}

    def visit(name: str, importer: str) -> None:
        if state.get(name) == "done":
            return
        if state.get(name) == "visiting":
            raise DescriptorError(f"{name} imports itself (through {importer})")
        file = by_name.get(name) or _well_known(name)
        if file is None:
            raise DescriptorError(
                f"{importer} imports {name}, which is not among the descriptors "
                "(protoc needs --include_imports)"
            )
        state[name] = "visiting"
        for dependency in file.dependency:
            visit(dependency, name)
        state[name] = "done"
        ordered.append(file)

    for name in by_name:
        visit(name, name)
    return ordered


def _well_known(name: str) -> descriptor_pb2.FileDescriptorProto | None:
    if not name.startswith("google/protobuf/"):
        return None
    try:
        found = descriptor_pool.Default().FindFileByName(name)
    except KeyError:
        return None
    proto = descriptor_pb2.FileDescriptorProto()
    found.CopyToProto(proto)
    return proto


def comments(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> dict[str, str]:
    """Full name → its leading comment (or trailing, when there is no leading one), for
    services, methods, messages, fields, enums and enum values that have one."""
    found: dict[str, str] = {}
    for file in files:
        if not file.HasField("source_code_info"):
            continue
        names = _names_by_path(file)
        for location in file.source_code_info.location:
            text = (location.leading_comments or location.trailing_comments).strip()
            name = names.get(tuple(location.path))
            if text and name is not None:
                found[name] = _tidy(text)
    return found


def _tidy(comment: str) -> str:
    lines = [line.strip() for line in comment.splitlines()]
    return "\n".join(lines).strip()


def _names_by_path(file: descriptor_pb2.FileDescriptorProto) -> dict[tuple[int, ...], str]:
    prefix = f"{file.package}." if file.package else ""
    names: dict[tuple[int, ...], str] = {}

    def enum(path: tuple[int, ...], value: descriptor_pb2.EnumDescriptorProto, scope: str) -> None:
        full = scope + value.name
        names[path] = full
        for index, item in enumerate(value.value):
            # Keyed under their enum (protobuf itself names them in the enum's parent scope).
            names[(*path, _ENUM_VALUE, index)] = f"{full}.{item.name}"

    def message(path: tuple[int, ...], value: descriptor_pb2.DescriptorProto, scope: str) -> None:
        full = scope + value.name
        names[path] = full
        for index, item in enumerate(value.field):
            names[(*path, _FIELD, index)] = f"{full}.{item.name}"
        for index, nested in enumerate(value.nested_type):
            message((*path, _NESTED, index), nested, f"{full}.")
        for index, nested_enum in enumerate(value.enum_type):
            enum((*path, _NESTED_ENUM, index), nested_enum, f"{full}.")

    for index, item in enumerate(file.message_type):
        message((_MESSAGE, index), item, prefix)
    for index, top_enum in enumerate(file.enum_type):
        enum((_ENUM, index), top_enum, prefix)
    for index, service in enumerate(file.service):
        names[(_SERVICE, index)] = prefix + service.name
        for method_index, method in enumerate(service.method):
            names[(_SERVICE, index, _METHOD, method_index)] = f"{prefix}{service.name}.{method.name}"
    return names


def services_in(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    """The full names of the services the files declare, in their order."""
    return [
        f"{file.package}.{service.name}" if file.package else service.name
        for file in files
        for service in file.service
    ]


def serialized(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> bytes:
    """The files as one FileDescriptorSet, byte for byte the same for the same descriptors."""
    ordered = sorted(files, key=lambda file: file.name)
    return descriptor_pb2.FileDescriptorSet(file=ordered).SerializeToString(deterministic=True)
