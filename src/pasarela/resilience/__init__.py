"""Around every upstream call: bulkhead → circuit breaker → retry → timeout; fallbacks."""

from pasarela.resilience.breaker import BreakerState, CircuitBreaker, Permit
from pasarela.resilience.bulkhead import Bulkhead
from pasarela.resilience.retry import Retrier, RetryBudget, retry_delay
from pasarela.resilience.stage import BackendGuard, ResilienceStage, counts_against_backend

__all__ = [
    "BackendGuard",
    "BreakerState",
    "Bulkhead",
    "CircuitBreaker",
    "Permit",
    "ResilienceStage",
    "Retrier",
    "RetryBudget",
    "counts_against_backend",
    "retry_delay",
]
