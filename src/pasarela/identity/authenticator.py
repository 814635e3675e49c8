"""Turn an inbound `Authorization` header into a Principal, for every door."""

from __future__ import annotations

from pasarela.errors import AuthenticationError
from pasarela.identity.api_keys import ApiKeyAuthenticator
from pasarela.identity.principal import Principal


class Authenticator:
    """The one place doors go to learn who is calling."""

    def __init__(self, api_keys: ApiKeyAuthenticator) -> None:
        self.api_keys = api_keys

    def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationError("missing credentials: send `Authorization: Bearer <api key>`")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError("unsupported credentials: send `Authorization: Bearer <api key>`")
        return self.api_keys.authenticate_key(token)

    def local_principal(self, principal_id: str) -> Principal:
        """A configured principal by id, for doors the operator runs locally (CLI, stdio)."""
        principal = self.api_keys.principal(principal_id)
        if principal is None:
            known = ", ".join(self.api_keys.principal_ids()) or "none configured"
            raise AuthenticationError(f"unknown principal {principal_id!r} (known: {known})")
        return principal
