"""Does the gateway's own credential (`auth:`) fit what the agent card asks for?

A card lists its security schemes and requirements (any one requirement suffices; all the
schemes of a requirement are needed). The gateway holds one credential: bearer, basic, or an API
key in a header. A bearer token answers an HTTP bearer scheme and OAuth 2 / OpenID Connect
schemes (a token obtained elsewhere, kept as a secret); basic answers HTTP basic; an API key
answers an `apiKey` scheme in a header of the same name. A mismatch is a configuration error at
start-up rather than a 401 at every call.
"""

from __future__ import annotations

from a2a.types import AgentCard, SecurityScheme
from pasarela.config.backends import BackendAuthSettings


def credential_kind(auth: BackendAuthSettings | None) -> str | None:
    if auth is None:
        return None
    if auth.bearer is not None:
        return "bearer"
    if auth.basic is not None:
        return "basic"
    return "api_key"


def describe(scheme: SecurityScheme) -> str:
    kind = scheme.WhichOneof("scheme")
    if kind == "http_auth_security_scheme":
        return f"HTTP {scheme.http_auth_security_scheme.scheme or 'auth'}"
    if kind == "api_key_security_scheme":
        key = scheme.api_key_security_scheme
        return f"an API key in the {key.location or '?'} {key.name!r}"
    if kind == "oauth2_security_scheme":
        return "OAuth 2 (a bearer token)"
    if kind == "open_id_connect_security_scheme":
        return "OpenID Connect (a bearer token)"
    if kind == "mtls_security_scheme":
        return "mutual TLS"
    return "an unknown scheme"


def answers(scheme: SecurityScheme, auth: BackendAuthSettings) -> bool:
    kind = scheme.WhichOneof("scheme")
    if kind == "http_auth_security_scheme":
        wanted = scheme.http_auth_security_scheme.scheme.lower()
        return (wanted == "bearer" and auth.bearer is not None) or (
            wanted == "basic" and auth.basic is not None
        )
    if kind == "api_key_security_scheme":
        key = scheme.api_key_security_scheme
        header = auth.api_key.header if auth.api_key is not None else None
        return key.location.lower() == "header" and header is not None and header.lower() == key.name.lower()
    if kind in ("oauth2_security_scheme", "open_id_connect_security_scheme"):
        return auth.bearer is not None
    return False


def credential_problem(card: AgentCard, auth: BackendAuthSettings | None) -> str | None:
    """Why `auth` cannot satisfy the card's security requirements, or None if it can (or none apply)."""
    requirements = [list(r.schemes) for r in card.security_requirements if r.schemes]
    if not requirements:
        return None
    schemes = card.security_schemes
    wanted = " or ".join(
        " and ".join(describe(schemes[name]) if name in schemes else f"{name!r}" for name in names)
        for names in requirements
    )
    if auth is None:
        return f"the agent card asks for {wanted}; give the gateway's credential in auth"
    for names in requirements:
        if all(name in schemes and answers(schemes[name], auth) for name in names):
            return None
    return f"the agent card asks for {wanted}, which a {credential_kind(auth)} credential does not answer"
