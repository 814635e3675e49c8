"""The HTTP server: the REST and MCP doors, health and metrics."""

from pasarela.server.app import create_app

__all__ = ["create_app"]
