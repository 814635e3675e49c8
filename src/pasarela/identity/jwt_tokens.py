"""Bearer JWTs: signature against the provider's JWKS, then issuer, audience and time.

Only the configured asymmetric algorithms are accepted, so neither `alg: none` nor an HMAC
token "signed" with the public key can pass. A token for another audience is refused: the
gateway never accepts (or forwards) a token meant for someone else.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

from pasarela.config.model import JwtSettings
from pasarela.errors import AuthenticationError
from pasarela.identity.jwks import JwksCache
from pasarela.identity.principal import Principal

# Far above any real token (a few KB); bounds the work an unauthenticated caller can cause.
MAX_TOKEN_CHARS = 16 * 1024


def looks_like_jwt(token: str) -> bool:
    return token.count(".") == 2 and token.startswith("eyJ")


def _shown(value: Any) -> str:
    """A caller-supplied header value, short enough to quote in an error."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def claim(claims: Mapping[str, Any], path: str) -> Any:
    """A claim by dotted path (`realm_access.roles`), or None."""
    node: Any = claims
    for part in path.split("."):
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node


class JwtAuthenticator:
    def __init__(self, settings: JwtSettings, *, kind: str = "agent") -> None:
        self.settings = settings
        self.kind = kind
        self.keys = JwksCache(
            settings.jwks_url, max_age=settings.jwks_cache, refetch_interval=settings.jwks_refetch_interval
        )

    async def authenticate(self, token: str) -> Principal:
        claims = await self.verify(token)
        return self.principal(claims)

    async def verify(self, token: str) -> dict[str, Any]:
        if len(token) > MAX_TOKEN_CHARS:
            raise AuthenticationError(f"the bearer token is longer than {MAX_TOKEN_CHARS} characters")
        try:
            # PyJWT checks the header's shape here: a JSON object, `kid` a string, `crit` a list
            # of extensions it supports (none are: an unknown critical extension is refused).
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError:
            raise AuthenticationError("the bearer token is not a well-formed JWT") from None
        except jwt.PyJWTError as exc:
            raise AuthenticationError(f"the bearer token's header is not valid: {str(exc)[:120]}") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in self.settings.algorithms:
            raise AuthenticationError(f"tokens signed with {_shown(algorithm)} are not accepted")
        key = await self.keys.key(header.get("kid"))
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=self.settings.algorithms,
                audience=self.settings.audience,
                issuer=self.settings.issuer,
                leeway=self.settings.leeway,
                options={"require": ["exp", "iss", "aud", self.settings.principal_claim]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("the token was issued for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("the token was issued by an untrusted issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("the token's signature is not valid") from None
        except jwt.PyJWTError as exc:  # malformed claims, a key unfit for the algorithm, ...
            raise AuthenticationError(f"the token is not valid: {str(exc)[:120]}") from None
        return claims

    def principal(self, claims: Mapping[str, Any]) -> Principal:
        subject = claim(claims, self.settings.principal_claim)
        if not isinstance(subject, str) or not subject:
            raise AuthenticationError(f"the token's {self.settings.principal_claim!r} claim is not a string")
        roles: frozenset[str] = frozenset()
        if self.settings.roles_claim:
            raw = claim(claims, self.settings.roles_claim)
            if isinstance(raw, str):
                raw = raw.split()
            if isinstance(raw, list):
                roles = frozenset(r for r in raw if isinstance(r, str))
        attributes = {}
        for attribute, path in self.settings.attributes.items():
            value = claim(claims, path)
            if value is not None:
                attributes[attribute] = value
        return Principal(id=subject, roles=roles, attributes=attributes, kind=self.kind)
