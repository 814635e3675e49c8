"""What a secret provider raises when it should have answered and could not."""


class SecretProviderError(Exception):
    """A provider that should have answered could not (unreachable, refused, malformed)."""
