"""Traffic control: rate limits, quotas and idempotency keys."""

from pasarela.traffic.idempotency import IdempotencyLedger, IdempotencyStage
from pasarela.traffic.quotas import QuotaLedger, QuotaStage, QuotaUsage, compile_quota_rules, quota_report
from pasarela.traffic.ratelimit import RateLimitStage, compile_rate_rules

__all__ = [
    "IdempotencyLedger",
    "IdempotencyStage",
    "QuotaLedger",
    "QuotaStage",
    "QuotaUsage",
    "RateLimitStage",
    "compile_quota_rules",
    "compile_rate_rules",
    "quota_report",
]
