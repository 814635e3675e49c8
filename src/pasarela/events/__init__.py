"""Events to agents: sources (webhooks, brokers, change data capture) → CloudEvents → the durable
log → Cedar per subscriber → REST long poll, Server-Sent Events, webhooks. See docs/events.md."""

from pasarela.events.service import EventCore, Events

__all__ = ["EventCore", "Events"]
