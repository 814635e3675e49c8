"""The tamper-evident audit trail: a hash chain in the durable state, written in batches."""

from pasarela.audit.reader import Verdict, search, verify
from pasarela.audit.stage import AuditStage
from pasarela.audit.writer import AuditWriter

__all__ = ["AuditStage", "AuditWriter", "Verdict", "search", "verify"]
