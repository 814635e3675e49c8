"""Arguments → a request message → the call → JSON, and gRPC status codes → the error tree.

Messages are built at run time from the descriptor pool (`GetMessageClass`) and converted with
protobuf's own proto3 JSON mapping (`json_format`), keeping the .proto field names and writing
fields that hold their default value, so an agent always sees every field.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from google.protobuf import json_format, message_factory
from google.protobuf.descriptor_pool import DescriptorPool
from google.protobuf.message import Message

import grpc
from pasarela.connectors.grpc.channel import Metadata
from pasarela.connectors.grpc.tools import WRAPPED_ARGUMENT, Method
from pasarela.errors import (
    ArgumentProblem,
    InvalidArguments,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from pasarela.secrets import Redactor

MAX_STATUS_MESSAGE = 500
S = grpc.StatusCode
# The request was refused as it stands (like HTTP 4xx): nothing about the server's health, so
# the breaker does not count them. The problem document names the status (`grpc_status`), never
# an HTTP status the server did not send.
REFUSALS = frozenset(
    {
        S.INVALID_ARGUMENT,
        S.FAILED_PRECONDITION,
        S.OUT_OF_RANGE,
        S.NOT_FOUND,
        S.ALREADY_EXISTS,
        S.ABORTED,
        S.UNIMPLEMENTED,
    }
)
# The server refused the gateway's own credential: an operator's problem, never the agent's.
CREDENTIALS = {
    S.UNAUTHENTICATED: "did not accept the gateway's own credential (backends.{backend}.auth)",
    S.PERMISSION_DENIED: "does not let the gateway's own account do this",
}
_FIELD_PATH = re.compile(r" at [A-Za-z_][\w]*((?:\.[A-Za-z_]\w*|\[\d+\])+)\.*$")
_FIELD_CHAIN = re.compile(r"Failed to parse (\w+) field: ")

Progress = Callable[[float | None, str | None], Awaitable[None]]


@dataclass(slots=True)
class Caller:
    """Calls the methods of one backend over its channel, with messages from its pool."""

    channel: grpc.aio.Channel
    pool: DescriptorPool
    backend: str
    redactor: Redactor
    _classes: dict[str, type[Message]] = field(default_factory=dict)
    _stubs: dict[str, Any] = field(default_factory=dict)

    def message_class(self, full_name: str) -> type[Message]:
        found = self._classes.get(full_name)
        if found is None:
            found = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))
            self._classes[full_name] = found
        return found

    def encode(self, method: Method, arguments: Mapping[str, Any]) -> Message:
        request = self.message_class(method.input_type)()
        value: Any = arguments[WRAPPED_ARGUMENT] if method.wrapped_input else dict(arguments)
        try:
            json_format.ParseDict(value, request, descriptor_pool=self.pool)
        except json_format.ParseError as exc:
            text = str(exc)
            raise InvalidArguments(
                f"the arguments do not fit {method.input_type}: {text}",
                [ArgumentProblem(_pointer(text, method.wrapped_input), text)],
            ) from None
        return request

    def decode(self, message: Message) -> Any:
        return json_format.MessageToDict(
            message,
            preserving_proto_field_name=True,
            always_print_fields_with_no_presence=True,
            descriptor_pool=self.pool,
        )

    def _stub(self, method: Method) -> Any:
        stub = self._stubs.get(method.path)
        if stub is None:
            factory = self.channel.unary_stream if method.server_streaming else self.channel.unary_unary
            stub = factory(
                method.path,
                request_serializer=_serialize,
                response_deserializer=self.message_class(method.output_type).FromString,
            )
            self._stubs[method.path] = stub
        return stub

    async def unary(
        self, tool: str, method: Method, request: Message, metadata: Metadata, limit: float
    ) -> Any:
        started = time.monotonic()
        try:
            answer = await self._stub(method)(request, metadata=metadata, timeout=limit)
        except grpc.aio.AioRpcError as exc:
            raise self.status_error(tool, exc, limit, time.monotonic() - started) from None
        return self.decode(answer)

    async def server_stream(
        self,
        tool: str,
        method: Method,
        request: Message,
        metadata: Metadata,
        limit: float,
        cap: int,
        progress: Progress | None = None,
    ) -> dict[str, Any]:
        started = time.monotonic()
        call = self._stub(method)(request, metadata=metadata, timeout=limit)
        messages: list[Any] = []
        truncated = False
        try:
            async for answer in call:
                if len(messages) == cap:
                    truncated = True  # one more than the cap was sent: stop the stream here
                    break
                messages.append(self.decode(answer))
                if progress is not None:  # a job (or an MCP client) sees the stream come in
                    await progress(len(messages) / cap, f"{len(messages)} message(s) received")
        except grpc.aio.AioRpcError as exc:
            raise self.status_error(tool, exc, limit, time.monotonic() - started) from None
        finally:
            call.cancel()
        return {"messages": messages, "count": len(messages), "truncated": truncated}

    def status_error(
        self, tool: str, exc: grpc.aio.AioRpcError, limit: float, elapsed: float
    ) -> UpstreamError:
        code = exc.code()
        said = self.redactor.excerpt(exc.details() or "", MAX_STATUS_MESSAGE)
        name = code.name if code is not None else "UNKNOWN"
        extra: dict[str, Any] = {"grpc_status": name}
        if said:
            extra["grpc_message"] = said
        if code == S.DEADLINE_EXCEEDED:
            if elapsed >= limit * 0.9:
                detail = f"{self.backend} did not answer {tool} within {limit:g}s"
            else:  # the server gave up on something of its own
                detail = f"{self.backend} answered {tool} with DEADLINE_EXCEEDED: {said}"
            return UpstreamTimeout(detail, backend=self.backend, **extra)
        if code == S.UNAVAILABLE:
            return UpstreamUnavailable(
                f"{self.backend} is unavailable: {said}", backend=self.backend, **extra
            )
        if code in CREDENTIALS:
            what = CREDENTIALS[code].format(backend=self.backend)
            return UpstreamError(
                f"{self.backend} {what} ({name}); this is not about the caller's credentials",
                backend=self.backend,
                request_refused=True,
                **extra,
            )
        if code in REFUSALS:
            return UpstreamError(
                f"{self.backend} refused {tool} ({name}){': ' + said if said else ''}",
                backend=self.backend,
                request_refused=True,
                **extra,
            )
        # INTERNAL, UNKNOWN, DATA_LOSS, RESOURCE_EXHAUSTED, CANCELLED: the server is in trouble.
        return UpstreamError(
            f"{self.backend} failed {tool} ({name}){': ' + said if said else ''}",
            backend=self.backend,
            **extra,
        )


def _serialize(message: Message) -> bytes:
    return message.SerializeToString()


def _pointer(error: str, wrapped: bool) -> str:
    """A JSON Pointer to the argument json_format's error names (as near as it says)."""
    found = _FIELD_PATH.search(error)
    if found is not None:
        parts = [p for p in re.split(r"\.|\[(\d+)\]", found.group(1)) if p]
    else:
        parts = _FIELD_CHAIN.findall(error)
    if wrapped:
        parts = [WRAPPED_ARGUMENT, *parts]
    return "/" + "/".join(parts)
