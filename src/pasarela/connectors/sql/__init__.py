"""SQL databases as tools: declared queries and an analyst SELECT tool."""

from pasarela.connectors.sql.connector import SqlConnector

__all__ = ["SqlConnector"]
