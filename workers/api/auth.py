"""Bearer tokens: several allowed, compared in constant time, never logged or echoed."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from workers.config import ConfigError

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


class TokenCheck:
    def __init__(self, tokens: list[bytes]) -> None:
        # Digests: equal lengths, so compare_digest does not leak a token's length either.
        self._tokens = [hashlib.sha256(t).digest() for t in tokens]

    def __bool__(self) -> bool:
        return bool(self._tokens)

    def allows(self, authorization: str | None) -> bool:
        """Whether the Authorization header holds one of the tokens. Every token is compared,
        whatever matched, so the time taken says nothing about which one or how close."""
        scheme, _, given = (authorization or "").partition(" ")
        presented = given.strip().encode() if scheme.lower() == "bearer" else b""
        digest = hashlib.sha256(presented).digest()
        ok = False
        for token in self._tokens:
            ok |= hmac.compare_digest(digest, token)
        return ok and bool(presented)
