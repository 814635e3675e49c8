"""Turn an inbound `Authorization` header into a Principal, for every door."""

from __future__ import annotations

from pasarela.errors import AuthenticationError
from pasarela.identity.api_keys import ApiKeyAuthenticator
from pasarela.identity.jwt_tokens import JwtAuthenticator, looks_like_jwt
from pasarela.identity.principal import Principal

USAGE = "send `Authorization: Bearer <api key or token>`"


class Authenticator:
    """The one place doors go to learn who is calling."""

    def __init__(self, api_keys: ApiKeyAuthenticator, jwt: JwtAuthenticator | None = None) -> None:
        self.api_keys = api_keys
        self.jwt = jwt

    async def authenticate(self, authorization: str | None) -> Principal:
        if not authorization:
            raise AuthenticationError(f"missing credentials: {USAGE}")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token:
            raise AuthenticationError(f"unsupported credentials: {USAGE}")
        if self.jwt is not None and looks_like_jwt(token):
            principal = await self.jwt.authenticate(token)
            if self.api_keys.principal(principal.id) is not None:
                # Two identities under one name would share policies, sessions and audit rows.
                raise AuthenticationError(
                    f"the token's subject {principal.id!r} is also an API-key principal"
                )
            return principal
        return self.api_keys.authenticate_key(token)

    def local_principal(self, principal_id: str) -> Principal:
        """A configured principal by id, for doors the operator runs locally (CLI, stdio)."""
        principal = self.api_keys.principal(principal_id)
        if principal is None:
            known = ", ".join(self.api_keys.principal_ids()) or "none configured"
            raise AuthenticationError(f"unknown principal {principal_id!r} (known: {known})")
        return principal
