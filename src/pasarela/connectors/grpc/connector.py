"""The gRPC connector: a server's unary and server-streaming methods as tools.

The services are described by server reflection, by descriptor sets, or by .proto files
compiled at load; either way the descriptors go into a private pool and messages are built from
it at run time. One grpc.aio channel per backend carries every call, with the gateway's own
metadata credential, over plaintext or (mutual) TLS. Deadlines come from the tool's time limit
and the call's own deadline; status codes become the gateway's problem documents (wire.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import grpc
from pasarela.catalog.description_cache import DescriptionCache
from pasarela.catalog.spec import ToolSpec
from pasarela.config.backends import GrpcBackend
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.base import DEFAULT_INVOCATION, BackendHealth, Invocation, UpstreamResult
from pasarela.connectors.grpc import cache as entries
from pasarela.connectors.grpc.channel import (
    ChannelSettingError,
    Metadata,
    backend_metadata,
    call_metadata,
    open_channel,
)
from pasarela.connectors.grpc.descriptors import (
    DescriptorError,
    build_pool,
    comments,
    read_descriptor_set,
    serialized,
    services_in,
)
from pasarela.connectors.grpc.health import HealthProbe
from pasarela.connectors.grpc.protoc import ProtocFailed, compile_protos
from pasarela.connectors.grpc.reflection import ReflectionFailed, reflect
from pasarela.connectors.grpc.tools import Method, method_tools
from pasarela.connectors.grpc.wire import Caller
from pasarela.errors import ConfigError, ConfigProblem
from pasarela.secrets import Redactor

FileDescriptors = list[Any]  # descriptor_pb2.FileDescriptorProto


class GrpcConnector(BackendConnector[GrpcBackend]):
    def __init__(
        self,
        backend: str,
        settings: GrpcBackend,
        *,
        base_dir: Path,
        redactor: Redactor,
        source: str,
        cache: DescriptionCache | None = None,
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self._cache = cache
        self._metadata: Metadata = backend_metadata(settings)
        self._channel: grpc.aio.Channel | None = None
        self._caller: Caller | None = None
        self._probe: HealthProbe | None = None
        self._methods: dict[str, Method] = {}

    # -- loading ---------------------------------------------------------------------------

    async def load(self) -> list[ToolSpec]:
        if self._channel is None:
            try:
                self._channel = open_channel(self.settings, self.base_dir)
            except ChannelSettingError as exc:
                raise self.config_error(exc.key, str(exc)) from None
        services, files = await self._describe(self._channel)
        try:
            pool = build_pool(files)
            pairs = self._tools(pool, services, files)
        except DescriptorError as exc:
            raise self.config_error(self._source_key(), str(exc)) from None
        except KeyError as exc:  # a listed service the descriptors do not declare
            raise self.config_error(self._source_key(), f"no descriptor for {exc.args[0]}") from None
        self._methods = {spec.origin: method for spec, method in pairs}
        self._caller = Caller(self._channel, pool, self.backend, self.redactor)
        if self.settings.health_check.enabled:
            self._probe = HealthProbe(self._channel, self.settings.health_check, self._metadata)
        return [spec for spec, _ in pairs]

    def _source_key(self) -> str:
        return (
            "descriptor_sets"
            if self.settings.descriptor_sets
            else "protos"
            if self.settings.protos
            else "grpc"
        )

    async def _describe(self, channel: grpc.aio.Channel) -> tuple[list[str], FileDescriptors]:
        if self.settings.descriptor_sets:
            files = self._read_sets()
            return services_in(files), files
        if self.settings.protos:
            files = await self._compile()
            return services_in(files), files
        try:
            return await reflect(channel, self._metadata, self.settings.timeout)
        except ReflectionFailed as exc:
            said = self.redactor.excerpt(str(exc), 300)
            hint = (
                "; the server offers no reflection: set descriptor_sets or protos"
                if exc.code == grpc.StatusCode.UNIMPLEMENTED
                else ""
            )
            raise self.config_error(
                "grpc", f"server reflection at {self.settings.grpc} failed: {said}{hint}"
            ) from None
        except DescriptorError as exc:
            raise self.config_error("grpc", f"server reflection at {self.settings.grpc}: {exc}") from None

    def _resolve(self, value: str) -> Path:
        path = Path(value).expanduser()
        return path if path.is_absolute() else self.base_dir / path

    def _read_sets(self) -> FileDescriptors:
        files: FileDescriptors = []
        problems: list[ConfigProblem] = []
        for index, value in enumerate(self.settings.descriptor_sets):
            try:
                files.extend(read_descriptor_set(self._resolve(value)))
            except DescriptorError as exc:
                problems.append(self.problem(f"descriptor_sets[{index}]", str(exc)))
        if problems:
            raise ConfigError(problems)
        return files

    async def _compile(self) -> FileDescriptors:
        paths = [self._resolve(value) for value in self.settings.protos]
        includes = [self._resolve(value) for value in self.settings.include_paths]
        problems = [
            self.problem(f"protos[{index}]", f"no such file: {path}")
            for index, path in enumerate(paths)
            if not path.is_file()
        ] + [
            self.problem(f"include_paths[{index}]", f"no such directory: {path}")
            for index, path in enumerate(includes)
            if not path.is_dir()
        ]
        if problems:
            raise ConfigError(problems)
        try:
            return await compile_protos(paths, includes)
        except ProtocFailed as exc:
            by_file = {str(path): f"protos[{index}]" for index, path in enumerate(paths)}
            raise ConfigError(
                [self.problem(by_file.get(p.file, "protos"), f"does not compile: {p}") for p in exc.problems]
            ) from None
        except DescriptorError as exc:
            raise self.config_error("protos", str(exc)) from None

    def _tools(self, pool: Any, services: list[str], files: FileDescriptors) -> list[tuple[ToolSpec, Method]]:
        """The tools the descriptors describe: from the description cache when unchanged."""
        if self._cache is None:
            return method_tools(pool, services, comments(files), self.backend)
        content = serialized(files) + "\0".join(services).encode()
        key = self._cache.key(entries.KIND, self.backend, content, entries.fingerprint())
        cached = entries.read(self._cache, self.backend, key)
        if cached is not None:
            return cached
        pairs = method_tools(pool, services, comments(files), self.backend)
        self._cache.put(entries.KIND, self.backend, key, entries.encode(pairs))
        return pairs

    # -- calling ---------------------------------------------------------------------------

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        assert self._caller is not None, "load() must run before invoke()"
        method = self._methods[tool.origin]
        request = self._caller.encode(method, arguments)
        limit = self.time_limit(invocation)
        metadata = call_metadata(self._metadata, invocation.headers)
        if method.server_streaming:
            data = await self._caller.server_stream(
                tool.name, method, request, metadata, limit, self.settings.max_messages, invocation.progress
            )
        else:
            data = await self._caller.unary(tool.name, method, request, metadata, limit)
        return UpstreamResult(data)

    async def health(self) -> BackendHealth | None:
        return None if self._probe is None else await self._probe.health()

    async def aclose(self) -> None:
        if self._channel is not None:
            await self._channel.close()
            self._channel = None
