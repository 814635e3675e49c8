"""Every operation of an OpenAPI description as a tool: names, input schema, bindings.

Path, query and header parameters and the request body's fields are merged into one flat
input schema. When two share a name, the later one is prefixed with its location
(`body_id`), so nothing is lost or overwritten.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pasarela.catalog.naming import make_unique, sanitize_argument_name, sanitize_tool_name
from pasarela.catalog.spec import ToolAnnotations, ToolSpec
from pasarela.connectors.openapi.schemas import (
    SchemaConverter,
    SchemaTooDeep,
    UnresolvableReference,
    deref,
)

METHODS = ("get", "put", "post", "delete", "patch", "head", "options", "trace")
# Headers the gateway owns: an argument may never set them.
RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "cookie",
        "host",
        "content-length",
        "content-type",
        "transfer-encoding",
        "connection",
        "te",
        "upgrade",
        "accept-encoding",
        "forwarded",
        "x-forwarded-for",
        "x-forwarded-host",
        "x-forwarded-proto",
    }
)
# What HTTP allows in a field value (RFC 9110 section 5.5): no control character but tab. The
# same set aiohttp refuses to send, so a header argument is refused at validation instead (422).
FIELD_VALUE = r"^[^\x00-\x08\x0a-\x1f\x7f]*$"
MAX_DESCRIPTION = 4096


def field_value_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """`schema`, also requiring a string to be a valid HTTP field value (`pattern` applies to
    strings only, so other types are unaffected; they go on the wire as JSON, escaped)."""
    if schema.get("pattern") in (None, FIELD_VALUE):
        return {**schema, "pattern": FIELD_VALUE}
    return {**schema, "allOf": [*schema.get("allOf", []), {"pattern": FIELD_VALUE}]}


Location = Literal["path", "query", "header", "body_field", "body"]
BodyKind = Literal["json", "form", "multipart", "raw"]


@dataclass(frozen=True, slots=True)
class Binding:
    """Where one argument goes on the wire."""

    argument: str
    location: Location
    wire_name: str


@dataclass(frozen=True, slots=True)
class Operation:
    method: str
    path: str
    bindings: tuple[Binding, ...]
    body_kind: BodyKind | None = None
    media_type: str | None = None
    server_url: str | None = None


def iter_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any], dict[str, Any]]]:
    paths = document.get("paths") or {}
    for path, raw_item in paths.items():
        if not isinstance(raw_item, dict):
            continue
        item = deref(document, raw_item)
        for method in METHODS:
            operation = item.get(method)
            if isinstance(operation, dict):
                yield path, method, item, operation


class OperationBuilder:
    def __init__(self, document: dict[str, Any], backend: str, *, swagger2: bool, openapi_31: bool) -> None:
        self.document = document
        self.backend = backend
        self.swagger2 = swagger2
        self.schemas = SchemaConverter(document, openapi_31=openapi_31)
        self._tool_names: set[str] = set()
        self._origins: set[str] = set()

    def build_all(self) -> list[tuple[ToolSpec, Operation]]:
        built = []
        for path, method, item, op in iter_operations(self.document):
            try:
                built.append(self.build(path, method, item, op))
            except SchemaTooDeep as exc:
                raise SchemaTooDeep(f"{method.upper()} {path}: {exc}") from None
        return built

    def build(
        self, path: str, method: str, item: dict[str, Any], op: dict[str, Any]
    ) -> tuple[ToolSpec, Operation]:
        operation_id = op.get("operationId")
        raw_name = operation_id if isinstance(operation_id, str) and operation_id else f"{method}_{path}"
        origin = make_unique(raw_name, self._origins, limit=10_000)
        name = make_unique(sanitize_tool_name(raw_name), self._tool_names)

        used: set[str] = set()
        properties: dict[str, Any] = {}
        required: list[str] = []
        bindings: list[Binding] = []
        taken: set[str] = set()

        def claim(wire_name: str, location: str) -> str:
            base = sanitize_argument_name(wire_name)
            if base in taken:
                base = sanitize_argument_name(f"{location}_{wire_name}")
            return make_unique(base, taken, limit=64)

        for param in self._parameters(item, op):
            location = param.get("in")
            wire = param.get("name")
            if location not in ("path", "query", "header") or not isinstance(wire, str):
                continue  # cookies and body/formData are handled elsewhere
            if location == "header" and wire.lower() in RESERVED_HEADERS:
                continue
            schema = self._parameter_schema(param, used)
            if location == "path" and schema.get("type") == "string":
                schema.setdefault("minLength", 1)
            if location == "header":
                schema = field_value_schema(schema)
            argument = claim(wire, location)
            properties[argument] = schema
            bindings.append(Binding(argument, location, wire))
            if location == "path" or param.get("required") is True:
                required.append(argument)

        body_kind, media_type = self._add_body(item, op, used, properties, required, bindings, claim)

        input_schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            input_schema["required"] = required
        input_schema["additionalProperties"] = False
        if used:
            input_schema["$defs"] = self.schemas.closure(used)

        spec = ToolSpec(
            name=name,
            description=_description(op, method, path),
            input_schema=input_schema,
            backend=self.backend,
            origin=origin,
            output_schema=self._output_schema(op),
            annotations=_annotations(method),
            tags=tuple(t for t in op.get("tags", []) if isinstance(t, str)),
        )
        server = _server_url(op) or _server_url(item)
        return spec, Operation(method.upper(), path, tuple(bindings), body_kind, media_type, server)

    def _parameters(self, item: dict[str, Any], op: dict[str, Any]) -> list[dict[str, Any]]:
        merged: dict[tuple[str, str], dict[str, Any]] = {}
        for raw in [*item.get("parameters", []), *op.get("parameters", [])]:
            try:
                param = deref(self.document, raw)
            except UnresolvableReference:
                continue
            if isinstance(param, dict):
                merged[(str(param.get("in")), str(param.get("name")))] = param
        return list(merged.values())

    def _parameter_schema(self, param: dict[str, Any], used: set[str]) -> dict[str, Any]:
        if "schema" in param:
            schema = self.schemas.convert(param["schema"], used)
        elif "content" in param and isinstance(param["content"], dict) and param["content"]:
            media = next(iter(param["content"].values()))
            schema = self.schemas.convert(media.get("schema", {}), used) if isinstance(media, dict) else {}
        else:  # Swagger 2.0: the schema keywords sit on the parameter itself
            keep = {
                k: v
                for k, v in param.items()
                if k not in ("name", "in", "required", "description", "collectionFormat", "allowEmptyValue")
            }
            schema = self.schemas.convert(keep, used)
        schema = dict(schema) if isinstance(schema, dict) else {}
        if isinstance(param.get("description"), str) and "description" not in schema:
            schema["description"] = param["description"]
        return schema

    def _add_body(
        self,
        item: dict[str, Any],
        op: dict[str, Any],
        used: set[str],
        properties: dict[str, Any],
        required: list[str],
        bindings: list[Binding],
        claim: Any,
    ) -> tuple[BodyKind | None, str | None]:
        body_schema, body_required, kind, media_type = self._body(item, op)
        if body_schema is None or kind is None:
            return None, None
        try:
            resolved = deref(self.document, body_schema)
        except UnresolvableReference:
            resolved = {}
        fields = resolved.get("properties") if isinstance(resolved, dict) else None
        combinators = isinstance(resolved, dict) and any(k in resolved for k in ("allOf", "anyOf", "oneOf"))
        if kind != "raw" and isinstance(fields, dict) and fields and not combinators:
            field_required = set(resolved.get("required", []))
            for wire, sub in fields.items():
                argument = claim(wire, "body")
                properties[argument] = self.schemas.convert(sub, used)
                bindings.append(Binding(argument, "body_field", wire))
                # The body's own `required` list decides: many descriptions (Twilio's among them)
                # omit `requestBody.required` although no call can succeed without the body.
                if wire in field_required:
                    required.append(argument)
        else:
            argument = claim("body", "body")
            properties[argument] = self.schemas.convert(body_schema, used)
            bindings.append(Binding(argument, "body", "body"))
            if body_required:
                required.append(argument)
        return kind, media_type

    def _body(
        self, item: dict[str, Any], op: dict[str, Any]
    ) -> tuple[Any, bool, BodyKind | None, str | None]:
        if self.swagger2:
            params = self._parameters(item, op)
            body = next((p for p in params if p.get("in") == "body"), None)
            if body is not None:
                return body.get("schema", {}), body.get("required") is True, "json", "application/json"
            form = [p for p in params if p.get("in") == "formData"]
            if not form:
                return None, False, None, None
            consumes = op.get("consumes") or self.document.get("consumes") or []
            multipart = "multipart/form-data" in consumes
            schema = {
                "type": "object",
                "properties": {p["name"]: self._swagger_form_field(p) for p in form if "name" in p},
                "required": [p["name"] for p in form if p.get("required") is True and "name" in p],
            }
            kind: BodyKind = "multipart" if multipart else "form"
            form_media = "multipart/form-data" if multipart else "application/x-www-form-urlencoded"
            return schema, True, kind, form_media
        try:
            request_body = deref(self.document, op.get("requestBody"))
        except UnresolvableReference:
            return None, False, None, None
        if not isinstance(request_body, dict):
            return None, False, None, None
        content = request_body.get("content") or {}
        media_type = _preferred_media_type(list(content))
        if media_type is None:
            return None, False, None, None
        media = content.get(media_type) or {}
        return (
            media.get("schema", {}),
            request_body.get("required") is True,
            _body_kind(media_type),
            media_type,
        )

    @staticmethod
    def _swagger_form_field(param: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in param.items() if k not in ("name", "in", "required", "collectionFormat")}

    def _output_schema(self, op: dict[str, Any]) -> dict[str, Any] | None:
        responses = op.get("responses") or {}
        for status in sorted(str(s) for s in responses):
            if not status.startswith("2"):
                continue
            try:
                response = deref(self.document, responses.get(status) or responses.get(int(status)))
            except (UnresolvableReference, ValueError):
                return None
            if not isinstance(response, dict):
                return None
            if self.swagger2:
                schema = response.get("schema")
            else:
                content = response.get("content") or {}
                json_type = next((m for m in content if _is_json(m)), None)
                schema = (content.get(json_type) or {}).get("schema") if json_type else None
            if schema is None:
                return None
            used: set[str] = set()
            converted = self.schemas.convert(schema, used)
            if not isinstance(converted, dict):
                return None
            if used:
                converted = {**converted, "$defs": self.schemas.closure(used)}
            return converted
        return None


def _is_json(media_type: str) -> bool:
    base = media_type.split(";", 1)[0].strip().lower()
    return base == "application/json" or base.endswith("+json")


def _body_kind(media_type: str) -> BodyKind:
    base = media_type.split(";", 1)[0].strip().lower()
    if _is_json(base):
        return "json"
    if base == "application/x-www-form-urlencoded":
        return "form"
    if base == "multipart/form-data":
        return "multipart"
    return "raw"


def _preferred_media_type(types: list[str]) -> str | None:
    for wanted in (_is_json, lambda m: _body_kind(m) == "form", lambda m: _body_kind(m) == "multipart"):
        found = next((m for m in types if wanted(m)), None)
        if found is not None:
            return found
    return types[0] if types else None


def _description(op: dict[str, Any], method: str, path: str) -> str:
    parts = [
        p.strip() for p in (op.get("summary"), op.get("description")) if isinstance(p, str) and p.strip()
    ]
    if len(parts) == 2 and parts[1].startswith(parts[0]):
        parts = parts[1:]
    text = "\n\n".join(parts) or f"{method.upper()} {path}"
    return text if len(text) <= MAX_DESCRIPTION else text[: MAX_DESCRIPTION - 1] + "…"


def _annotations(method: str) -> ToolAnnotations:
    read_only = method in ("get", "head", "options")
    return ToolAnnotations(
        read_only=read_only,
        destructive=method == "delete",
        idempotent=read_only or method in ("put", "delete"),
        open_world=True,
    )


def _server_url(node: dict[str, Any]) -> str | None:
    servers = node.get("servers")
    if isinstance(servers, list) and servers and isinstance(servers[0], dict):
        url = servers[0].get("url")
        return url if isinstance(url, str) else None
    return None
