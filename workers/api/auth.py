"""Bearer tokens: several allowed, compared in constant time, never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from workers.config import ConfigError

from .fairness import DEFAULT
from .settings import ApiSettings


def load_tokens(settings: ApiSettings) -> list[bytes]:
    """The configured tokens (settings, then one per line of `tokens_file`)."""
    tokens = [t.get_secret_value() for t in settings.tokens]
    if settings.tokens_file is not None:
        path = Path(settings.tokens_file)
        if not path.exists():
            raise ConfigError(f"api.tokens_file {path} does not exist")
        tokens += [line.strip() for line in path.read_text().splitlines()]
    return [t.encode() for t in tokens if t.strip()]


def load_clients(settings: ApiSettings) -> list[tuple[str, bytes]]:
    """(client name, token) of every client of `api.clients` (fair admission)."""
    return [(name, c.token.get_secret_value().encode()) for name, c in settings.clients.items()]


class TokenCheck:
    def __init__(self, tokens: list[bytes], clients: list[tuple[str, bytes]] | None = None) -> None:
        # Digests: equal lengths, so compare_digest does not leak a token's length either.
        named = [(DEFAULT, t) for t in tokens] + list(clients or [])
        self._tokens = [(name, hashlib.sha256(t).digest()) for name, t in named]

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def client(self, authorization: str | None) -> str | None:
        """The client whose token the Authorization header holds, else None. Every token is
        compared, whatever matched, so the time taken says nothing about which one or how close."""
        scheme, _, given = (authorization or "").partition(" ")
        presented = given.strip().encode() if scheme.lower() == "bearer" else b""
        digest = hashlib.sha256(presented).digest()
        found = None
        for name, token in self._tokens:
            if hmac.compare_digest(digest, token) and found is None:
                found = name
        return found if presented else None

    def allows(self, authorization: str | None) -> bool:
        return self.client(authorization) is not None
