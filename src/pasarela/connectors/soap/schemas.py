"""XSD types (as zeep loaded them) as JSON Schema, with enumerations read from the XSD itself.

zeep keeps each simple type's base but not its facets, so enumerations are collected once
from the schema documents (the WSDL's embedded schemas, imports and includes).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from lxml import etree
from zeep.xsd import ComplexType, Element
from zeep.xsd.types.builtins import BuiltinType

XSD = "http://www.w3.org/2001/XMLSchema"
_BUILTINS: dict[str, dict[str, Any]] = {
    "string": {"type": "string"},
    "normalizedString": {"type": "string"},
    "token": {"type": "string"},
    "anyURI": {"type": "string", "format": "uri"},
    "boolean": {"type": "boolean"},
    "int": {"type": "integer"},
    "integer": {"type": "integer"},
    "long": {"type": "integer"},
    "short": {"type": "integer"},
    "byte": {"type": "integer"},
    "nonNegativeInteger": {"type": "integer", "minimum": 0},
    "positiveInteger": {"type": "integer", "minimum": 1},
    "unsignedInt": {"type": "integer", "minimum": 0},
    "unsignedLong": {"type": "integer", "minimum": 0},
    "decimal": {"type": "number"},
    "float": {"type": "number"},
    "double": {"type": "number"},
    "date": {"type": "string", "format": "date"},
    "dateTime": {"type": "string", "format": "date-time"},
    "time": {"type": "string", "format": "time"},
    "base64Binary": {"type": "string", "contentEncoding": "base64"},
}


WSDL = "http://schemas.xmlsoap.org/wsdl/"


def schema_documents(location: str, load: Callable[[str], bytes]) -> list[bytes]:
    """The WSDL and every document it imports or includes, transitively (each once)."""
    found: list[bytes] = []
    pending, seen = [location], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        raw = load(current)
        found.append(raw)
        try:
            root = etree.fromstring(raw)
        except etree.XMLSyntaxError:
            continue
        for tag, attribute in (
            (f"{{{XSD}}}import", "schemaLocation"),
            (f"{{{XSD}}}include", "schemaLocation"),
            (f"{{{WSDL}}}import", "location"),
        ):
            for node in root.iter(tag):
                target = node.get(attribute)
                if target:
                    pending.append(_resolve(current, target))
    return found


def _resolve(base: str, target: str) -> str:
    if target.startswith(("http://", "https://", "/")):
        return target
    if base.startswith(("http://", "https://")):
        return urljoin(base, target)
    return str(Path(base).parent / target)


def enumerations(documents: list[bytes]) -> dict[str, list[str]]:
    """`{namespace}Name` → its enumeration values, from raw XSD/WSDL documents."""
    found: dict[str, list[str]] = {}
    for raw in documents:
        try:
            root = etree.fromstring(raw)
        except etree.XMLSyntaxError:
            continue
        schemas = [root] if root.tag == f"{{{XSD}}}schema" else root.iter(f"{{{XSD}}}schema")
        for schema in schemas:
            namespace = schema.get("targetNamespace", "")
            for simple in schema.iter(f"{{{XSD}}}simpleType"):
                name = simple.get("name")
                values = [e.get("value") for e in simple.iter(f"{{{XSD}}}enumeration")]
                if name and values:
                    found[f"{{{namespace}}}{name}"] = [v for v in values if v is not None]
    return found


def documentation(documents: list[bytes]) -> dict[str, str]:
    """Operation name → its `wsdl:documentation` (zeep does not keep it), from the portTypes."""
    found: dict[str, str] = {}
    for raw in documents:
        try:
            root = etree.fromstring(raw)
        except etree.XMLSyntaxError:
            continue
        for port_type in root.iter(f"{{{WSDL}}}portType"):
            for operation in port_type.iterfind(f"{{{WSDL}}}operation"):
                text = " ".join(operation.findtext(f"{{{WSDL}}}documentation", "").split())
                name = operation.get("name")
                if name and text:
                    found.setdefault(name, text)
    return found


def element_schema(
    element: Element, enums: Mapping[str, list[str]], seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    schema = type_schema(element.type, enums, seen)
    if element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1):
        return {"type": "array", "items": schema}
    return schema


def type_schema(
    kind: Any, enums: Mapping[str, list[str]], seen: frozenset[str] = frozenset()
) -> dict[str, Any]:
    qname = str(kind.qname) if getattr(kind, "qname", None) is not None else None
    if qname is not None and qname in enums:
        return {"type": "string", "enum": list(enums[qname])}
    if isinstance(kind, ComplexType):
        if qname is not None and qname in seen:
            return {"type": "object"}  # recursive type: stop describing, still an object
        inner = seen | ({qname} if qname else set())
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, child in kind.elements:
            if not isinstance(child, Element):
                continue  # xsd:any and choice groups: accepted, not described
            properties[name] = element_schema(child, enums, inner)
            if child.min_occurs and child.min_occurs > 0:
                required.append(name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema
    if isinstance(kind, BuiltinType) or hasattr(kind, "accepted_types"):
        for candidate in type(kind).__mro__:
            local = getattr(candidate, "_default_qname", None)
            if local is not None and local.localname in _BUILTINS:
                return dict(_BUILTINS[local.localname])
    return {}
