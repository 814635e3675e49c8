"""Identity: who is calling (API keys now; JWT/OIDC and on-behalf-of later)."""

from pasarela.identity.api_keys import ApiKeyAuthenticator, hash_key
from pasarela.identity.authenticator import Authenticator
from pasarela.identity.principal import Principal

__all__ = ["ApiKeyAuthenticator", "Authenticator", "Principal", "hash_key"]
