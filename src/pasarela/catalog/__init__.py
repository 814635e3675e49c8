"""Tools: their specs, names, selection and the catalog."""

from pasarela.catalog.catalog import Catalog
from pasarela.catalog.spec import ToolAnnotations, ToolSpec

__all__ = ["Catalog", "ToolAnnotations", "ToolSpec"]
