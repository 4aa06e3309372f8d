"""Dealer tokens encrypted at rest.

Tokens are sealed with Fernet (AES-128-CBC + HMAC-SHA256, so tampering is detected). The
key comes from `RELEAF_SECRET_KEY`, or from a key file created with mode 0600 on first
use. A token is only ever decrypted in memory, right before a request needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

KEY_ENV = "RELEAF_SECRET_KEY"
KEY_FILE_NAME = "releaf.key"


class SecretKeyError(RuntimeError):
    """The encryption key is missing, malformed or does not open a stored token."""


class SecretStr:
    """A string that never shows itself in `repr`, `str`, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself; call only where it is sent to its server."""
        return self._value

    def __repr__(self) -> str:
        return "SecretStr('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SecretStr) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


def load_key(home: Path) -> bytes:
    """The Fernet key: `RELEAF_SECRET_KEY` if set, else `<home>/releaf.key` (made if absent)."""
    env = os.environ.get(KEY_ENV, "").strip()
    if env:
        key = env.encode()
    else:
        path = home / KEY_FILE_NAME
        if not path.exists():
            home.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once must not write two different keys.
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as fh:
                    fh.write(Fernet.generate_key())
        key = path.read_bytes().strip()
    try:
        Fernet(key)
    except ValueError as exc:
        raise SecretKeyError(
            f"the encryption key ({KEY_ENV} or {home / KEY_FILE_NAME}) is not a valid Fernet "
            "key: generate one with `python -c 'from cryptography.fernet import Fernet; "
            "print(Fernet.generate_key().decode())'`"
        ) from exc
    return key


class TokenCipher:
    """Encrypts and decrypts dealer tokens with one Fernet key."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    def __repr__(self) -> str:
        return "TokenCipher(key='***')"

    def encrypt(self, token: str) -> str:
        """The token sealed for storage (URL-safe base64 text)."""
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, sealed: str) -> SecretStr:
        """The stored token, opened; raises SecretKeyError when the key does not fit."""
        try:
            return SecretStr(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken:
            raise SecretKeyError(
                "a stored dealer token cannot be decrypted with the current key: set "
                f"{KEY_ENV} to the key it was stored with, or register the server again"
            ) from None
