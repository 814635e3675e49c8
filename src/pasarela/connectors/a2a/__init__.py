"""A2A agents as tools: the agent card read and pinned, a message sent, the task followed."""

from pasarela.connectors.a2a.connector import A2aConnector

__all__ = ["A2aConnector"]
