"""Webhooks out: signed (Standard Webhooks), from a durable outbox in the state store, retried on
a schedule; one machinery for jobs and events. See docs/webhooks.md."""

from pasarela.webhooks.service import Webhooks

__all__ = ["Webhooks"]
