"""XSD types (as zeep loaded them) as JSON Schema, with facets read from the XSD itself.

zeep keeps each simple type's base but not its facets, so the facets of named simple types
(enumeration, pattern, lengths, bounds) are collected once from the schema documents (the
WSDL's embedded schemas, imports and includes) and added to the JSON Schema, so a value the
backend would refuse is refused by the gateway first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

from lxml import etree
from zeep.xsd import Attribute, ComplexType, Element
from zeep.xsd.types.builtins import BuiltinType

XSD = "http://www.w3.org/2001/XMLSchema"
# zeep's name for the value of an element with simpleContent (one that also has attributes)
SIMPLE_CONTENT = "_value_1"
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


def schema_documents(location: str, load: Callable[[str], bytes]) -> list[etree._Element]:
    """The WSDL and every document it imports or includes, transitively (each once), parsed.
    A document that is not XML is left out: zeep has already reported it."""
    found: list[etree._Element] = []
    pending, seen = [location], set()
    while pending:
        current = pending.pop()
        if current in seen:
            continue
        seen.add(current)
        try:
            root = etree.fromstring(load(current))
        except etree.XMLSyntaxError:
            continue
        found.append(root)
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


Facets = Mapping[str, Mapping[str, Any]]
_NUMERIC_FACETS = {
    "minInclusive": "minimum",
    "maxInclusive": "maximum",
    "minExclusive": "exclusiveMinimum",
    "maxExclusive": "exclusiveMaximum",
}
_LENGTH_FACETS = {"minLength": "minLength", "maxLength": "maxLength"}
# XSD regex features Python's (and JSON Schema's) dialect does not share: leave such patterns out.
# (\i, \c name classes, \p{IsBlock} blocks, [a-z-[aeiou]] class subtraction)
_FOREIGN_REGEX = re.compile(r"\\[iIcC]|\\[pP]\{Is|\[[^\]]*-\[")


def facets(documents: list[etree._Element]) -> dict[str, dict[str, Any]]:
    """Type qname → the facets of that simple type, as raw strings by facet name (enumeration
    and pattern as lists), its base's facets included.

    Named simple types are keyed by their own name; an anonymous one declared inside an element
    by the element's name in the schema's namespace, which is the name zeep gives it. Where two different types would
    share a key, neither is described: a constraint the backend does not have must never be
    enforced on its behalf.
    """
    own: dict[str, dict[str, Any]] = {}
    bases: dict[str, str] = {}
    ambiguous: set[str] = set()

    def record(qname: str, restriction: etree._Element) -> None:
        found, base = _restriction(restriction)
        if qname in own and (own[qname], bases[qname]) != (found, base):
            ambiguous.add(qname)
        own[qname], bases[qname] = found, base

    for root in documents:
        schemas = [root] if root.tag == f"{{{XSD}}}schema" else root.iter(f"{{{XSD}}}schema")
        for schema in schemas:
            namespace = schema.get("targetNamespace", "")
            for simple in schema.iter(f"{{{XSD}}}simpleType"):
                restriction = simple.find(f"{{{XSD}}}restriction")
                if restriction is None:
                    continue  # lists and unions: their base types only
                if simple.get("name"):
                    record(f"{{{namespace}}}{simple.get('name')}", restriction)
                    continue
                owner = simple.getparent()
                if owner is None or owner.tag != f"{{{XSD}}}element" or not owner.get("name"):
                    continue  # e.g. an attribute's type: attributes are not described
                # zeep names it after the element, in the schema's namespace whatever the form.
                record(f"{{{namespace}}}{owner.get('name')}", restriction)

    def resolved(qname: str, depth: int = 0) -> dict[str, Any]:
        base = bases.get(qname)
        inherited = resolved(base, depth + 1) if base in own and depth < 20 else {}
        return {**inherited, **own[qname]}

    return {qname: resolved(qname) for qname in own if qname not in ambiguous}


def _restriction(restriction: etree._Element) -> tuple[dict[str, Any], str]:
    """An xsd:restriction's facets and the qname of its base."""
    found: dict[str, Any] = {}
    for facet in restriction:
        if not isinstance(facet.tag, str):
            continue  # comments
        kind, value = etree.QName(facet).localname, facet.get("value")
        if value is None:
            continue
        if kind in ("enumeration", "pattern"):
            found.setdefault(kind, []).append(value)
        else:
            found[kind] = value
    prefix, _, local = restriction.get("base", "").rpartition(":")
    return found, f"{{{restriction.nsmap.get(prefix or None, '')}}}{local}"


def _number(value: str, integer: bool) -> int | float | None:
    try:
        number = Decimal(value)
    except InvalidOperation:
        return None
    return int(number) if integer and number == number.to_integral_value() else float(number)


def _with_facets(base: dict[str, Any], found: Mapping[str, Any]) -> dict[str, Any]:
    """The base type's schema narrowed by the facets it can express."""
    schema: dict[str, Any] = dict(base) if base else {"type": "string"}
    kind = schema.get("type")
    numeric = kind in ("integer", "number")
    if "enumeration" in found:
        values: list[Any] = list(found["enumeration"])
        if numeric:
            values = [v for v in (_number(x, kind == "integer") for x in values) if v is not None]
        elif kind == "boolean":
            values = [v in ("true", "1") for v in values]
        schema["enum"] = values
    if numeric:
        for facet, keyword in _NUMERIC_FACETS.items():
            bound = _number(found[facet], kind == "integer") if facet in found else None
            if bound is not None:
                schema[keyword] = bound
    if kind == "string" and "format" not in schema:
        for facet, keyword in _LENGTH_FACETS.items():
            if facet in found and found[facet].isdigit():
                schema[keyword] = int(found[facet])
        if "length" in found and found["length"].isdigit():
            schema["minLength"] = schema["maxLength"] = int(found["length"])
        patterns = [p for p in found.get("pattern", []) if not _FOREIGN_REGEX.search(p)]
        if patterns:
            # XSD patterns match the whole value; several on one type are alternatives.
            anchored = "^(?:" + "|".join(f"(?:{p})" for p in patterns) + ")$"
            try:
                re.compile(anchored)
            except re.error:
                pass
            else:
                schema["pattern"] = anchored
    return schema


def documentation(documents: list[etree._Element]) -> dict[str, str]:
    """Operation name → its `wsdl:documentation` (zeep does not keep it), from the portTypes."""
    found: dict[str, str] = {}
    for root in documents:
        for port_type in root.iter(f"{{{WSDL}}}portType"):
            for operation in port_type.iterfind(f"{{{WSDL}}}operation"):
                text = " ".join(operation.findtext(f"{{{WSDL}}}documentation", "").split())
                name = operation.get("name")
                if name and text:
                    found.setdefault(name, text)
    return found


def element_schema(element: Element, found: Facets, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    schema = type_schema(element.type, found, seen)
    if element.max_occurs == "unbounded" or (isinstance(element.max_occurs, int) and element.max_occurs > 1):
        return {"type": "array", "items": schema}
    return schema


def type_schema(kind: Any, found: Facets, seen: frozenset[str] = frozenset()) -> dict[str, Any]:
    qname = str(kind.qname) if getattr(kind, "qname", None) is not None else None
    if qname is not None and qname in found and not isinstance(kind, ComplexType):
        return _with_facets(_builtin_schema(kind), found[qname])
    if isinstance(kind, ComplexType):
        if qname is not None and qname in seen:
            return {"type": "object"}  # recursive type: stop describing, still an object
        inner = seen | ({qname} if qname else set())
        properties: dict[str, Any] = {}
        required: list[str] = []
        for name, child in kind.elements:
            if not isinstance(child, Element):
                continue  # xsd:any and choice groups: accepted, not described
            properties[name] = element_schema(child, found, inner)
            if name == SIMPLE_CONTENT:
                properties[name]["description"] = "The element's own value (XSD simpleContent)"
            if child.min_occurs and child.min_occurs > 0:
                required.append(name)
        for name, attribute in kind.attributes:
            if not isinstance(attribute, Attribute) or name in properties:
                continue  # xsd:anyAttribute: accepted, not described
            properties[name] = type_schema(attribute.type, found, inner)
            if attribute.required:
                required.append(name)
        schema: dict[str, Any] = {"type": "object", "properties": properties}
        if required:
            schema["required"] = required
        return schema
    return _builtin_schema(kind)


def _builtin_schema(kind: Any) -> dict[str, Any]:
    """The JSON Schema of the XSD built-in type `kind` is (or restricts)."""
    if isinstance(kind, BuiltinType) or hasattr(kind, "accepted_types"):
        for candidate in type(kind).__mro__:
            local = getattr(candidate, "_default_qname", None)
            if local is not None and local.localname in _BUILTINS:
                return dict(_BUILTINS[local.localname])
    return {}
