"""Authorization with Cedar: RBAC from `access:`, ABAC from `policies:`, deny by default."""

from pasarela.policy.engine import CedarAuthorizer
from pasarela.policy.sources import PolicySource

__all__ = ["CedarAuthorizer", "PolicySource"]
