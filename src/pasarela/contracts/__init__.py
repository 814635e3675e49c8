"""Tool result contracts: JMESPath transforms and the schema registry."""

from pasarela.contracts.registry import Contract, SchemaRegistry, load_registry
from pasarela.contracts.stage import ContractStage, ToolContract

__all__ = ["Contract", "ContractStage", "SchemaRegistry", "ToolContract", "load_registry"]
