"""A2A agents as tools: the agent card read and pinned, a message sent, the task followed."""

import os

# The gateway traces each call itself (one client span per call, its attributes chosen, no
# agent text in them); a2a-sdk would add spans of its own for every transport method and record
# its exceptions' messages unmasked. Off unless the operator turns it on. Read at its import.
os.environ.setdefault("OTEL_INSTRUMENTATION_A2A_SDK_ENABLED", "false")

from pasarela.connectors.a2a.connector import A2aConnector

__all__ = ["A2aConnector"]
