"""Secret providers and redaction."""

from pasarela.secrets.providers import EnvSecretProvider, FileSecretProvider, SecretChain, SecretProvider
from pasarela.secrets.redaction import Redactor

__all__ = ["EnvSecretProvider", "FileSecretProvider", "Redactor", "SecretChain", "SecretProvider"]
