"""The operator console at /admin (docs/console.md): server-rendered pages for admins."""

from pasarela.console.routes import console_routes, create_console

__all__ = ["console_routes", "create_console"]
