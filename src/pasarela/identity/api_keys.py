"""API keys: bearer tokens whose SHA-256 maps to a principal."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from pasarela.config.model import ApiKeySettings
from pasarela.errors import AuthenticationError
from pasarela.identity.principal import Principal
from pasarela.secrets import Redactor


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


class ApiKeyAuthenticator:
    """Finds the principal for a presented key. Keys are kept only as hashes."""

    def __init__(self, entries: Sequence[ApiKeySettings], redactor: Redactor) -> None:
        self._by_hash: dict[str, Principal] = {}
        self._by_id: dict[str, Principal] = {}
        self._digests: dict[str, set[str]] = {}
        for entry in entries:
            principal = Principal(
                id=entry.principal, roles=frozenset(entry.roles), attributes=dict(entry.attributes)
            )
            if entry.key is not None:
                plain = entry.key.get_secret_value()
                redactor.add(plain)
                digest = hash_key(plain)
            else:
                assert entry.key_sha256 is not None
                digest = entry.key_sha256
            self._by_hash[digest] = principal
            self._by_id[principal.id] = principal
            self._digests.setdefault(principal.id, set()).add(digest)

    def authenticate_key(self, key: str) -> Principal:
        principal = self._by_hash.get(hash_key(key))
        if principal is None:
            raise AuthenticationError("the API key is not valid")
        return principal

    def principal(self, principal_id: str) -> Principal | None:
        """The configured principal with this id (for local, trusted doors: CLI, stdio)."""
        return self._by_id.get(principal_id)

    def key_digests(self, principal_id: str) -> frozenset[str]:
        """The SHA-256 of each key this principal may present (a console session is bound to
        one: rotating the key ends the session)."""
        return frozenset(self._digests.get(principal_id, ()))

    def principal_ids(self) -> list[str]:
        return list(self._by_id)

    def principals(self) -> list[Principal]:
        return list(self._by_id.values())
