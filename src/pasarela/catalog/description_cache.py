"""What a backend's description turned into, kept on disk by content hash.

A restart or a reload (SIGHUP) reads the description again but need not parse and convert
it again when its bytes are unchanged: the tools built from it are kept in the cache
directory (beside the SQLite state file, or `.pasarela-cache` beside the configuration;
`description_cache:` in pasarela.yaml chooses another directory or turns it off).

An entry is trusted only when everything matches: the key (content hash, backend, cache
format, Pasarela's version and the code that converts descriptions), and a SHA-256 of the
entry's own body, so a truncated, corrupt or foreign file is ignored and rewritten. Entries
are written atomically (a temporary file renamed over the old one). Values JSON cannot hold
exactly (NaN, dates, non-string keys) and anything that contains a resolved secret are not
cached. The directory deserves the protection of the state itself: whoever can write it
chooses the tools a gateway serves (as whoever can write the state chooses its pins).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType
from typing import Any

import orjson
import structlog
import yaml
from sqlalchemy.engine import make_url

from pasarela import __version__
from pasarela.secrets import Redactor

log = structlog.get_logger("pasarela.description_cache")

FORMAT = 1
DIRECTORY_NAME = ".pasarela-cache"
# Temporary files a crash left behind are removed once they are this old (seconds).
STALE_TEMPORARY = 3600.0


def default_directory(state_url: str, base_dir: Path) -> Path:
    """Beside the SQLite state file; beside the configuration for PostgreSQL or in-memory state."""
    if state_url.split("://", 1)[0].split("+", 1)[0] == "sqlite":
        database = make_url(state_url).database or "pasarela.db"
        if database != ":memory:":
            path = Path(database).expanduser()
            return (path if path.is_absolute() else base_dir / path).parent / DIRECTORY_NAME
    return base_dir / DIRECTORY_NAME


def code_fingerprint(modules: Iterable[ModuleType]) -> str:
    """Pasarela's version, PyYAML's, and the source of the modules that convert descriptions.

    A development build keeps its version number while its code changes: an entry written by
    other code is never trusted.
    """
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{yaml.__version__}\0{sys.version}".encode())
    for module in modules:
        try:
            digest.update(Path(module.__file__ or "").read_bytes())
        except OSError:
            digest.update(module.__name__.encode())  # no source (a frozen build): the version decides
    return digest.hexdigest()


class DescriptionCache:
    def __init__(self, directory: Path, redactor: Redactor) -> None:
        self.directory = directory
        self.redactor = redactor

    @staticmethod
    def key(kind: str, backend: str, content: bytes, fingerprint: str) -> str:
        parts = (kind, backend, fingerprint, hashlib.sha256(content).hexdigest())
        return hashlib.sha256("\0".join(parts).encode()).hexdigest()

    def path(self, kind: str, backend: str) -> Path:
        return self.directory / f"{kind}-{backend}.json"

    def get(self, kind: str, backend: str, key: str) -> Any | None:
        """The entry stored under `key`, or None (missing, stale, corrupt or unreadable)."""
        path = self.path(kind, backend)
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            log.warning("description_cache_unreadable", path=str(path), error=exc.strerror)
            return None
        header_line, _, body = raw.partition(b"\n")
        try:
            header = orjson.loads(header_line)
            if not isinstance(header, dict) or header.get("format") != FORMAT or header.get("key") != key:
                log.debug("description_cache_miss", backend=backend)
                return None
            if header.get("sha256") != hashlib.sha256(body).hexdigest():
                raise ValueError("the body does not match its checksum")
            return json.loads(body) if header.get("codec") == "json" else orjson.loads(body)
        except (ValueError, TypeError, RecursionError) as exc:
            log.warning("description_cache_corrupt", path=str(path), error=str(exc)[:200])
            return None

    def put(self, kind: str, backend: str, key: str, payload: Any) -> bool:
        """Store `payload` under `key` if JSON holds it exactly and it holds no secret; True if stored."""
        encoded = _encode_exactly(payload)
        if encoded is None:
            log.debug("description_cache_skipped", backend=backend, reason="not exactly JSON")
            return False
        codec, body = encoded
        if self.redactor.scrub(payload) != payload:  # every string, before JSON escapes any
            log.debug("description_cache_skipped", backend=backend, reason="holds a secret")
            return False
        header = orjson.dumps(
            {"format": FORMAT, "key": key, "codec": codec, "sha256": hashlib.sha256(body).hexdigest()}
        )
        path = self.path(kind, backend)
        try:
            self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            self._remove_stale_temporaries(path)
            descriptor, temporary = tempfile.mkstemp(
                dir=self.directory, prefix=f".{path.name}.", suffix=".tmp"
            )
            try:
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(header + b"\n" + body)
                os.replace(temporary, path)  # readers see the old entry or the new one, never half
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temporary)
                raise
        except OSError as exc:
            log.warning("description_cache_unwritable", path=str(path), error=exc.strerror or str(exc))
            return False
        return True

    def _remove_stale_temporaries(self, path: Path) -> None:
        now = time.time()
        for leftover in self.directory.glob(f".{path.name}.*.tmp"):
            with contextlib.suppress(OSError):
                if now - leftover.stat().st_mtime > STALE_TEMPORARY:
                    leftover.unlink()


def _encode_exactly(payload: Any) -> tuple[str, bytes] | None:
    """`payload` as JSON, only if reading it back gives an equal value (else None)."""
    try:
        codec, body = "orjson", orjson.dumps(payload)
    except (orjson.JSONEncodeError, RecursionError):
        try:  # integers beyond 64 bits: the standard library keeps them exact
            codec, body = "json", json.dumps(payload, allow_nan=False, separators=(",", ":")).encode()
        except (TypeError, ValueError, RecursionError):
            return None
    try:
        again = json.loads(body) if codec == "json" else orjson.loads(body)
        exact = bool(again == payload)
    except (ValueError, RecursionError):
        return None
    return (codec, body) if exact else None


def stored_text(value: Any) -> str:
    """A string field of a cached entry (a TypeError marks the entry as not ours: it is parsed anew)."""
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def stored_mapping(value: Any) -> dict[str, Any]:
    """An object field of a cached entry (a TypeError marks the entry as not ours)."""
    if not isinstance(value, dict):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return value
