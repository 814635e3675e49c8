"""Benchmark: how long importing large descriptions takes (GraphQL schemas; OpenAPI in run.py docs).

    .venv/bin/python -m bench.imports

Builds a GraphQL SDL with many types and root fields and times turning it into tools (parse,
build the schema, generate every tool with its selection set and input schema).
"""

from __future__ import annotations

import statistics
import time

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


def main() -> None:
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
