"""Hot state shared by replicas: rate-limit counters, cached results, circuit breakers."""

from pasarela.shared.base import BreakerStore, KeyValueStore, SharedState, SharedStoreError, WindowCounts
from pasarela.shared.registry import SHARED_BACKENDS, open_shared, reachable

__all__ = [
    "SHARED_BACKENDS",
    "BreakerStore",
    "KeyValueStore",
    "SharedState",
    "SharedStoreError",
    "WindowCounts",
    "open_shared",
    "reachable",
]
