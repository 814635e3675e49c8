"""Server reflection, asked over the backend's own channel (grpc.aio).

Version 1 of the reflection service first, then v1alpha (which grpcio's own servers still
serve alone); their messages are the same on the wire. The services are listed, then the file
declaring each is fetched, then every file those import that has not come along yet.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

from google.protobuf import descriptor_pb2
from google.protobuf.message import DecodeError
from grpc_reflection.v1alpha import reflection_pb2

import grpc
from pasarela.connectors.grpc.descriptors import DescriptorError, infrastructure

METHODS = (
    "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
    "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
)
RACE_TRIES = 3
MAX_FILES = 10_000  # a server that keeps naming new files is not describing anything


class _Exchange:
    """One reflection stream: a request sent, its answer read, in turn.

    Requests go through an iterator that gRPC consumes itself, so a server that refuses the
    stream at once (UNIMPLEMENTED) is reported as such, not as a failed write racing it.
    """

    def __init__(self, stub: Any, metadata: Sequence[tuple[str, str]], timeout: float) -> None:
        self._queue: asyncio.Queue[reflection_pb2.ServerReflectionRequest | None] = asyncio.Queue()
        self.call = stub(self._requests(), metadata=tuple(metadata), timeout=timeout)

    async def _requests(self) -> AsyncIterator[reflection_pb2.ServerReflectionRequest]:
        while (request := await self._queue.get()) is not None:
            yield request

    async def ask(
        self, request: reflection_pb2.ServerReflectionRequest
    ) -> reflection_pb2.ServerReflectionResponse:
        self._queue.put_nowait(request)
        answer = await self.call.read()
        if answer is grpc.aio.EOF:
            raise DescriptorError("the reflection service ended the stream early")
        assert isinstance(answer, reflection_pb2.ServerReflectionResponse)
        return answer

    def close(self) -> None:
        self._queue.put_nowait(None)
        self.call.cancel()


class ReflectionFailed(DescriptorError):
    """The reflection call itself failed (the server is down, refuses, or offers no reflection)."""

    def __init__(self, code: grpc.StatusCode | None, details: str) -> None:
        self.code = code
        self.details = details
        super().__init__(f"{code.name if code is not None else 'UNKNOWN'} {details}".strip())


async def reflect(
    channel: grpc.aio.Channel, metadata: Sequence[tuple[str, str]], timeout: float
) -> tuple[list[str], list[descriptor_pb2.FileDescriptorProto]]:
    """The services the server lists and the file descriptors that describe them."""
    for index, method in enumerate(METHODS):
        stub = channel.stream_stream(
            method,
            request_serializer=reflection_pb2.ServerReflectionRequest.SerializeToString,
            response_deserializer=reflection_pb2.ServerReflectionResponse.FromString,
        )
        for attempt in range(RACE_TRIES):
            exchange = _Exchange(stub, metadata, timeout)
            try:
                return await _collect(exchange)
            except grpc.aio.AioRpcError as exc:
                if _raced(exc) and attempt + 1 < RACE_TRIES:
                    continue  # the same again: the server's answer was lost
                refused = _raced(exc) or exc.code() == grpc.StatusCode.UNIMPLEMENTED
                if refused and index + 1 < len(METHODS):
                    break  # the older version of the service
                raise ReflectionFailed(exc.code(), exc.details() or "") from None
            finally:
                exchange.close()
    raise AssertionError("unreachable")


def _raced(exc: grpc.aio.AioRpcError) -> bool:
    """grpc.aio's own failure when a server refuses a stream (UNIMPLEMENTED) while the first
    message is being sent: the refusal is lost, so the stream is tried again."""
    said = f"{exc.details()} {exc.debug_error_string()}"
    return exc.code() == grpc.StatusCode.INTERNAL and "execute_batch" in said


async def _collect(exchange: _Exchange) -> tuple[list[str], list[descriptor_pb2.FileDescriptorProto]]:
    listed = await exchange.ask(reflection_pb2.ServerReflectionRequest(list_services=""))
    _raise_error(listed, "listing the services")
    services = [s.name for s in listed.list_services_response.service if not infrastructure(s.name)]
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}
    for service in services:
        answer = await exchange.ask(reflection_pb2.ServerReflectionRequest(file_containing_symbol=service))
        _raise_error(answer, f"describing {service}")
        _add(files, answer)
    asked: set[str] = set()
    while pending := sorted(_imported(files) - set(files) - asked):
        for name in pending:
            asked.add(name)
            answer = await exchange.ask(reflection_pb2.ServerReflectionRequest(file_by_filename=name))
            if answer.HasField("error_response") and name.startswith("google/protobuf/"):
                continue  # the protobuf runtime has the well-known types
            _raise_error(answer, f"fetching {name}")
            _add(files, answer)
        if len(files) > MAX_FILES:
            raise DescriptorError(f"the reflection service named more than {MAX_FILES} files")
    return services, list(files.values())


def _imported(files: dict[str, descriptor_pb2.FileDescriptorProto]) -> set[str]:
    return {dependency for file in files.values() for dependency in file.dependency}


def _add(
    files: dict[str, descriptor_pb2.FileDescriptorProto], answer: reflection_pb2.ServerReflectionResponse
) -> None:
    for raw in answer.file_descriptor_response.file_descriptor_proto:
        try:
            file = descriptor_pb2.FileDescriptorProto.FromString(raw)
        except DecodeError:
            raise DescriptorError(
                "the reflection service sent a file descriptor that does not parse"
            ) from None
        files.setdefault(file.name, file)


def _raise_error(answer: reflection_pb2.ServerReflectionResponse, doing: str) -> None:
    if answer.HasField("error_response"):
        error = answer.error_response
        code = _code_name(error.error_code)
        raise DescriptorError(f"the reflection service failed {doing}: {code} {error.error_message}".strip())


def _code_name(number: int) -> str:
    for code in grpc.StatusCode:
        if code.value[0] == number:
            return str(code.name)
    return str(number)
