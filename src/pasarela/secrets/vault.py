"""HashiCorp Vault (KV version 2) as a secret provider, through hvac.

One KV secret holds the gateway's secrets as keys: `${secret:CRM_TOKEN}` is the `CRM_TOKEN`
key of the secret at `<mount>/<path>`. It is read once per configuration load (so a reload
picks up rotated values) and only if a reference asks for it.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import hvac
import requests
from hvac.exceptions import VaultError

from pasarela.secrets.errors import SecretProviderError


class VaultSecretProvider:
    def __init__(
        self,
        url: str,
        *,
        mount: str,
        path: str,
        token: str | None,
        token_source: str,
        namespace: str | None = None,
        ca_cert: str | None = None,
        timeout: float = 5.0,
    ) -> None:
        self.url = url.rstrip("/")
        self.mount = mount
        self.path = path
        self._token = token
        self._token_source = token_source
        self._namespace = namespace
        self._ca_cert = ca_cert
        self._timeout = timeout
        self._data: Mapping[str, Any] | None = None
        self._lock = threading.Lock()

    def describe(self) -> str:
        return f"Vault {self.url} {self.mount}/{self.path}"

    def get(self, name: str) -> str | None:
        value = self._read().get(name)
        return None if value is None else str(value)

    def _read(self) -> Mapping[str, Any]:
        with self._lock:
            if self._data is None:
                self._data = self._fetch()
            return self._data

    def _fetch(self) -> Mapping[str, Any]:
        where = f"{self.url} ({self.mount}/{self.path})"
        if not self._token:
            raise SecretProviderError(f"no Vault token: {self._token_source} is not set")
        session = requests.Session()
        session.trust_env = False  # no proxies or netrc credentials picked up behind the operator's back
        client = hvac.Client(
            url=self.url,
            token=self._token,
            namespace=self._namespace,
            verify=self._ca_cert if self._ca_cert else True,
            timeout=max(1, math.ceil(self._timeout)),  # hvac takes whole seconds
            session=session,
        )
        try:
            answer = client.secrets.kv.v2.read_secret_version(
                path=self.path, mount_point=self.mount, raise_on_deleted_version=True
            )
        except VaultError as exc:
            raise SecretProviderError(f"Vault at {where} refused: {type(exc).__name__}") from None
        except requests.RequestException as exc:
            raise SecretProviderError(f"cannot reach Vault at {where}: {type(exc).__name__}") from None
        finally:
            session.close()
        data = answer.get("data", {}).get("data") if isinstance(answer, dict) else None
        if not isinstance(data, dict):
            raise SecretProviderError(f"Vault at {where} answered without KV v2 data")
        return data
