"""Benchmark: how long importing large descriptions takes (OpenAPI YAML, GraphQL schemas, WSDLs).

    .venv/bin/python -m bench.imports

Builds a big YAML OpenAPI description (bench/bigspec.py), a GraphQL SDL with many types and
root fields, and a WSDL with many operations and complex types, and times turning each into
tools (parse, build, generate every tool with its schemas) — the OpenAPI and SOAP figures
through the connectors' own load(), OpenAPI both parsed and from the description cache.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from graphql import build_schema

from pasarela.connectors.graphql.documents import root_field_tool


def large_sdl(types: int, fields_per_type: int) -> str:
    parts = []
    for t in range(types):
        fields = "\n".join(f"  f{f}: {'String' if f % 3 else 'Int'}" for f in range(fields_per_type))
        child = f"  child: T{(t + 1) % types}\n  items: [T{(t + 7) % types}!]!" if types > 1 else ""
        parts.append(f"type T{t} {{\n  id: ID!\n{fields}\n{child}\n}}")
        parts.append(f"input I{t} {{ id: ID!, note: String, level: Int = 1 }}")
    roots = "\n".join(
        f"  get{t}(id: ID!, filter: I{t}): T{t}\n  list{t}(first: Int = 10): [T{t}!]!" for t in range(types)
    )
    mutations = "\n".join(f"  update{t}(input: I{t}!): T{t}!" for t in range(types))
    return "\n".join(parts) + f"\ntype Query {{\n{roots}\n}}\ntype Mutation {{\n{mutations}\n}}\n"


def large_wsdl(operations: int) -> str:
    types = []
    messages = []
    port_ops = []
    binding_ops = []
    for n in range(operations):
        fields = "".join(
            f'<xsd:element name="f{f}" type="xsd:{"string" if f % 2 else "decimal"}" minOccurs="0"/>'
            for f in range(12)
        )
        types.append(
            f'<xsd:complexType name="Item{n}"><xsd:sequence>{fields}'
            f'<xsd:element name="children" type="t:Item{(n + 1) % 10}" minOccurs="0" maxOccurs="unbounded"/>'
            f"</xsd:sequence></xsd:complexType>"
            f'<xsd:element name="Op{n}Request"><xsd:complexType><xsd:sequence><xsd:element name="id" type="xsd:string"/>'
            f'<xsd:element name="kind" type="t:Kind"/></xsd:sequence></xsd:complexType></xsd:element>'
            f'<xsd:element name="Op{n}Response"><xsd:complexType><xsd:sequence>'
            f'<xsd:element name="item" type="t:Item{n}" maxOccurs="unbounded"/></xsd:sequence></xsd:complexType></xsd:element>'
        )
        messages.append(
            f'<wsdl:message name="Op{n}In"><wsdl:part name="b" element="t:Op{n}Request"/></wsdl:message>'
            f'<wsdl:message name="Op{n}Out"><wsdl:part name="b" element="t:Op{n}Response"/></wsdl:message>'
        )
        port_ops.append(
            f'<wsdl:operation name="Op{n}"><wsdl:input message="tns:Op{n}In"/><wsdl:output message="tns:Op{n}Out"/></wsdl:operation>'
        )
        binding_ops.append(
            f'<wsdl:operation name="Op{n}"><soap:operation soapAction="Op{n}"/><wsdl:input><soap:body use="literal"/></wsdl:input>'
            f'<wsdl:output><soap:body use="literal"/></wsdl:output></wsdl:operation>'
        )
    kind = '<xsd:simpleType name="Kind"><xsd:restriction base="xsd:string"><xsd:enumeration value="A"/><xsd:enumeration value="B"/></xsd:restriction></xsd:simpleType>'
    return (
        '<?xml version="1.0"?><wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" '
        'xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
        'xmlns:t="urn:big" xmlns:tns="urn:big" targetNamespace="urn:big"><wsdl:types>'
        f'<xsd:schema targetNamespace="urn:big" elementFormDefault="qualified">{kind}{"".join(types)}</xsd:schema></wsdl:types>'
        f'{"".join(messages)}<wsdl:portType name="P">{"".join(port_ops)}</wsdl:portType>'
        '<wsdl:binding name="B" type="tns:P"><soap:binding style="document" transport="http://schemas.xmlsoap.org/soap/http"/>'
        f'{"".join(binding_ops)}</wsdl:binding><wsdl:service name="S"><wsdl:port name="Port" binding="tns:B">'
        '<soap:address location="http://127.0.0.1:1/soap"/></wsdl:port></wsdl:service></wsdl:definitions>'
    )


async def _load_soap(path: Path) -> int:
    from pasarela.config.backends import SoapBackend
    from pasarela.connectors.soap import SoapConnector
    from pasarela.secrets import Redactor

    connector = SoapConnector(
        "big",
        SoapBackend.model_validate({"soap": str(path)}),
        base_dir=path.parent,
        redactor=Redactor(),
        source="bench",
    )
    try:
        return len(await connector.load())
    finally:
        await connector.aclose()


async def _load_openapi(path: Path, cache_dir: Path | None) -> int:
    from pasarela.catalog.description_cache import DescriptionCache
    from pasarela.config.backends import OpenApiBackend
    from pasarela.connectors.openapi import OpenApiConnector
    from pasarela.secrets import Redactor

    connector = OpenApiConnector(
        "big",
        OpenApiBackend.model_validate({"openapi": str(path), "base_url": "http://127.0.0.1:9"}),
        base_dir=path.parent,
        redactor=Redactor(),
        source="bench",
        cache=DescriptionCache(cache_dir, Redactor()) if cache_dir is not None else None,
    )
    try:
        return len(await connector.load())
    finally:
        await connector.aclose()


def _openapi(scratch: Path) -> None:
    from bench.bigspec import write

    path = scratch / "big.yaml"
    size = write(path, 470)
    asyncio.run(_load_openapi(path, scratch / "cache"))  # fills the cache
    for label, cache_dir in (("parsed", None), ("from the description cache", scratch / "cache")):
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            tools = asyncio.run(_load_openapi(path, cache_dir))
            samples.append(time.perf_counter() - started)
        print(
            f"OpenAPI YAML {size / 1024:7.0f} KiB → {tools} tools, {label}: "
            f"median {statistics.median(samples) * 1000:7.1f} ms"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        _openapi(Path(scratch))
        for operations in (100, 500):
            path = Path(scratch) / f"big{operations}.wsdl"
            path.write_text(large_wsdl(operations))
            samples = []
            for _ in range(3):
                started = time.perf_counter()
                tools = asyncio.run(_load_soap(path))
                samples.append(time.perf_counter() - started)
            print(
                f"WSDL {path.stat().st_size / 1024:7.0f} KiB, {operations} operations and complex types → {tools} tools: "
                f"median {statistics.median(samples) * 1000:7.1f} ms"
            )
    for types, fields in ((100, 20), (500, 30)):
        sdl = large_sdl(types, fields)
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            schema = build_schema(sdl)
            tools = 0
            for mutation, root in ((False, schema.query_type), (True, schema.mutation_type)):
                assert root is not None
                for name, field in root.fields.items():
                    tools += root_field_tool("b", name, field, mutation=mutation, depth=2) is not None
            samples.append(time.perf_counter() - started)
        print(
            f"GraphQL SDL {len(sdl) / 1024:7.0f} KiB, {types} types × {fields} fields → {tools} tools: "
            f"median {statistics.median(samples) * 1000:7.1f} ms"
        )


if __name__ == "__main__":
    main()
