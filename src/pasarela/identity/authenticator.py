"""Turn an inbound `Authorization` header into a Principal, for every door."""

from __future__ import annotations

from dataclasses import replace

from pasarela.errors import AuthenticationError
from pasarela.identity.api_keys import ApiKeyAuthenticator
from pasarela.identity.jwt_tokens import JwtAuthenticator, looks_like_jwt
from pasarela.identity.principal import Principal

USAGE = "send `Authorization: Bearer <api key or token>`"


class Authenticator:
    """The one place doors go to learn who is calling."""

    def __init__(
        self,
        api_keys: ApiKeyAuthenticator,
        jwt: JwtAuthenticator | None = None,
        users: JwtAuthenticator | None = None,
        on_behalf_of_header: str = "X-On-Behalf-Of",
    ) -> None:
        self.api_keys = api_keys
        self.jwt = jwt
        self.users = users
        self.on_behalf_of_header = on_behalf_of_header

    async def authenticate_request(self, authorization: str | None, on_behalf_of: str | None) -> Principal:
        """The agent, and the end user it acts for when it presents their token."""
        agent = await self.authenticate(authorization)
        if on_behalf_of is None:
            return agent
        if self.users is None:
            raise AuthenticationError(
                f"{self.on_behalf_of_header} was sent but acting on behalf of users is not configured"
            )
        scheme, _, token = on_behalf_of.partition(" ")
        user_token = token.strip() if scheme.lower() == "bearer" else on_behalf_of.strip()
        if not looks_like_jwt(user_token):
            raise AuthenticationError(f"{self.on_behalf_of_header} must carry the user's JWT")
        user = await self.users.authenticate(user_token)
        return replace(agent, on_behalf_of=user)

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
