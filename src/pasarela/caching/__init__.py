"""Identity-aware caching of read-only tool results."""

from pasarela.caching.results import CachedResult, ResultCache, cache_key, scope_identity
from pasarela.caching.stage import CacheStage
from pasarela.pipeline.call import iso

__all__ = ["CacheStage", "CachedResult", "ResultCache", "cache_key", "iso", "scope_identity"]
