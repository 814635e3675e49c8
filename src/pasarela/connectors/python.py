"""Python callables as tools: `@tool` plus a `python: package.module[:attr]` backend.

    from pasarela import tool

    @tool(read_only=True)
    async def loan_payment(principal: float, annual_rate: float, months: int) -> float:
        "Monthly payment of an amortised loan."

Input and output schemas come from the type hints (via pydantic); arguments are validated
and coerced by the same model before the function runs. Sync functions run in a thread.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import sys
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, overload

import anyio.to_thread
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model
from pydantic_core import to_jsonable_python

from pasarela.catalog.naming import sanitize_tool_name
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.config.backends import PythonBackend
from pasarela.connectors.backend import BackendConnector
from pasarela.connectors.base import DEFAULT_INVOCATION, Invocation, UpstreamResult
from pasarela.context import CallContext
from pasarela.errors import (
    ArgumentProblem,
    ConfigError,
    InvalidArguments,
    PasarelaError,
    UpstreamError,
    UpstreamTimeout,
)
from pasarela.secrets import Redactor

MARKER = "__pasarela_tool__"


@dataclass(frozen=True, slots=True)
class PythonTool:
    func: Callable[..., Any]
    name: str
    description: str
    annotations: ToolAnnotations
    arguments: type[BaseModel]
    output: TypeAdapter[Any] | None
    context: str | None = None  # the parameter that receives a CallContext, if the function asks

    def input_schema(self) -> dict[str, Any]:
        schema: dict[str, Any] = _strip_titles(self.arguments.model_json_schema())
        schema["additionalProperties"] = False
        return schema

    def output_schema(self) -> dict[str, Any] | None:
        return _strip_titles(self.output.json_schema(mode="serialization")) if self.output else None


@overload
def tool(func: Callable[..., Any], /) -> Callable[..., Any]: ...
@overload
def tool(
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]: ...
def tool(
    func: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    description: str | None = None,
    read_only: bool = False,
    destructive: bool = False,
    idempotent: bool | None = None,
) -> Any:
    """Mark a typed function as a tool. The function itself is returned unchanged."""

    def mark(target: Callable[..., Any]) -> Callable[..., Any]:
        setattr(
            target,
            MARKER,
            _describe(
                target,
                name=name,
                description=description,
                annotations=ToolAnnotations(
                    read_only=read_only,
                    destructive=destructive,
                    idempotent=read_only if idempotent is None else idempotent,
                    open_world=False,
                ),
            ),
        )
        return target

    return mark(func) if func is not None else mark


def _describe(
    func: Callable[..., Any], *, name: str | None, description: str | None, annotations: ToolAnnotations
) -> PythonTool:
    hints = typing.get_type_hints(func, include_extras=True)
    fields: dict[str, Any] = {}
    context = None
    for parameter in inspect.signature(func).parameters.values():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"@tool {func.__qualname__}: *args and **kwargs cannot be described as a schema")
        annotation = hints.get(parameter.name, Any)
        if annotation is CallContext:  # filled by the gateway, never by the agent
            context = parameter.name
            continue
        default = ... if parameter.default is parameter.empty else parameter.default
        fields[parameter.name] = (annotation, default)
    tool_name = name or sanitize_tool_name(func.__name__)
    model = create_model(f"{tool_name}_arguments", __config__=ConfigDict(extra="forbid"), **fields)
    returns = hints.get("return", Any)
    output = None if returns in (Any, None, type(None)) else TypeAdapter(returns)
    doc = inspect.getdoc(func) or ""
    return PythonTool(
        func=func,
        name=tool_name,
        description=description or doc or tool_name,
        annotations=annotations,
        arguments=model,
        output=output,
        context=context,
    )


class PythonConnector(BackendConnector[PythonBackend]):
    """Tools from `@tool` functions found at `package.module` or `package.module:attr`."""

    def __init__(
        self, backend: str, settings: PythonBackend, *, base_dir: Path, redactor: Redactor, source: str
    ) -> None:
        super().__init__(backend, settings, base_dir=base_dir, redactor=redactor, source=source)
        self.target = settings.python
        self._tools: dict[str, PythonTool] = {}

    async def load(self) -> list[ToolSpec]:
        found = collect_tools(self._import())
        if not found:
            raise self._problem(f"{self.target!r} holds no @tool functions")
        self._tools = {t.name: t for t in found}
        return [
            ToolSpec(
                name=t.name,
                description=t.description,
                input_schema=t.input_schema(),
                backend=self.backend,
                origin=t.name,
                output_schema=t.output_schema(),
                annotations=t.annotations,
            )
            for t in found
        ]

    def _problem(self, message: str) -> ConfigError:
        return self.config_error("python", message)

    def _import(self) -> Any:
        module_name, _, attribute = self.target.partition(":")
        # A module beside pasarela.yaml imports as-is.
        if str(self.base_dir) not in sys.path:
            sys.path.append(str(self.base_dir))
        try:
            module = importlib.import_module(module_name)
        except ImportError as exc:
            raise self._problem(f"cannot import {module_name!r}: {exc}") from None
        if not attribute:
            return module
        try:
            return functools.reduce(getattr, attribute.split("."), module)
        except AttributeError:
            raise self._problem(f"module {module_name!r} has no attribute {attribute!r}") from None

    async def invoke(
        self,
        tool: ToolSpec,
        arguments: Mapping[str, Any],
        invocation: Invocation = DEFAULT_INVOCATION,
    ) -> UpstreamResult:
        target = self._tools[tool.origin]
        try:
            parsed = target.arguments.model_validate(dict(arguments))
        except ValidationError as exc:
            problems = [
                ArgumentProblem("/" + "/".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.errors()
            ]
            raise InvalidArguments(f"arguments for {tool.name!r} are not valid", problems) from None
        kwargs = {field: getattr(parsed, field) for field in type(parsed).model_fields}
        if target.context is not None:
            kwargs[target.context] = CallContext(
                invocation.call_tool, idempotency_key=invocation.idempotency_key, progress=invocation.progress
            )
        limit = self.time_limit(invocation)
        try:
            with anyio.fail_after(limit):
                if inspect.iscoroutinefunction(target.func):
                    result = await target.func(**kwargs)
                else:
                    # A thread cannot be stopped: at the limit the call answers and the thread is
                    # left to finish on its own (its result is dropped).
                    result = await anyio.to_thread.run_sync(
                        functools.partial(target.func, **kwargs), abandon_on_cancel=True
                    )
        except PasarelaError:
            raise
        except TimeoutError as exc:
            raise UpstreamTimeout(
                f"{tool.name} did not finish within {limit:g}s", backend=self.backend
            ) from exc
        except Exception as exc:  # the function is the backend: its failure is an upstream error
            raise UpstreamError(f"{tool.name} failed: {type(exc).__name__}", backend=self.backend) from exc
        data = target.output.dump_python(result, mode="json") if target.output else to_jsonable_python(result)
        return UpstreamResult(data)

    async def aclose(self) -> None:
        return None


def collect_tools(found: Any) -> list[PythonTool]:
    """The @tool functions in a module, an iterable, or a single function."""
    marked = getattr(found, MARKER, None)
    if isinstance(marked, PythonTool):
        return [marked]
    if isinstance(found, types.ModuleType):
        candidates: Iterable[Any] = vars(found).values()
    elif isinstance(found, Iterable):
        candidates = found
    else:
        return []
    tools = [getattr(c, MARKER) for c in candidates if isinstance(getattr(c, MARKER, None), PythonTool)]
    return list({t.name: t for t in tools}.values())


def _strip_titles(schema: Any) -> Any:
    """Drop pydantic's generated `title`s (noise for a model), never a property named title."""
    if isinstance(schema, dict):
        out: dict[str, Any] = {}
        for key, value in schema.items():
            if key == "title" and isinstance(value, str):
                continue
            if key in ("properties", "$defs", "patternProperties") and isinstance(value, dict):
                out[key] = {name: _strip_titles(sub) for name, sub in value.items()}
            else:
                out[key] = _strip_titles(value)
        return out
    if isinstance(schema, list):
        return [_strip_titles(item) for item in schema]
    return schema
