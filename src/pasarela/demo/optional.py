"""Demo systems that need more than the gateway's own core: each runs where its library is
installed, and where it is not, the demo starts without it (and says how to add it).

Both libraries are Pasarela's dependencies, so `pip install -e .` brings them; this only keeps the
demo working in an environment that left one out.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass

import yaml


@dataclass(frozen=True, slots=True)
class OptionalSystem:
    name: str  # the backend in the demo configuration
    tool: str  # the tool it serves
    modules: tuple[str, ...]
    speaks: str
    install: str

    def available(self) -> bool:
        try:
            return all(importlib.util.find_spec(module) is not None for module in self.modules)
        except ModuleNotFoundError:  # a parent package (google) is missing
            return False

    def notice(self) -> str:
        return f"the {self.name.replace('_', ' ')} speaks {self.speaks} and its library is missing: {self.install} to run it too\n"


PRICING = OptionalSystem(
    "pricing",
    "get_product_price",
    ("grpc", "grpc_reflection", "grpc_health", "google.protobuf"),
    "gRPC",
    "pip install grpcio grpcio-reflection grpcio-health-checking",
)
PRODUCT_ADVISOR = OptionalSystem(
    "product_advisor", "ask_product_advisor", ("a2a", "google.protobuf"), "A2A", "pip install a2a-sdk"
)
OPTIONAL = {system.name: system for system in (PRICING, PRODUCT_ADVISOR)}


def missing() -> list[OptionalSystem]:
    return [system for system in OPTIONAL.values() if not system.available()]


def without(text: str, *systems: OptionalSystem) -> str:
    """The demo configuration less `systems`: their backends, their tools' settings and grants."""
    data = yaml.safe_load(text)
    for system in systems:
        data["backends"].pop(system.name, None)
        data.get("tools", {}).pop(system.tool, None)
        for role, tools in data.get("access", {}).items():
            data["access"][role] = [tool for tool in tools if tool != system.tool]
    return yaml.safe_dump(data, sort_keys=False)
