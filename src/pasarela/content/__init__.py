"""MCP resources, resource templates and prompts: declared, federated, governed (docs/doors.md)."""
