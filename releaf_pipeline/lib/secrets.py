"""Dealer tokens encrypted at rest.

Tokens are sealed with Fernet (AES-128-CBC + HMAC-SHA256, so tampering is detected). The
keys come from `RELEAF_SECRET_KEY`, or from a key file created with mode 0600 on first
use; either may hold several keys, newest first: tokens are sealed with the first and
opened with any, which is how a key is rotated without downtime. A token is only ever
decrypted in memory, right before a request needs it.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet

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


def _parse_keys(raw: str, where: str) -> list[bytes]:
    keys = [k.strip().encode() for k in raw.replace("\n", ",").split(",") if k.strip()]
    if not keys:
        raise SecretKeyError(
            f"{where} holds no key: restore it from a backup, or set {KEY_ENV} to the key"
        )
    for key in keys:
        try:
            Fernet(key)
        except ValueError:
            raise SecretKeyError(
                f"{where} holds a value that is not a valid Fernet key: generate one with "
                "`releaf secrets new-key`"
            ) from None
    return keys


def key_file(home: Path) -> Path:
    """Where the key file lives when `RELEAF_SECRET_KEY` is not set."""
    return home / KEY_FILE_NAME


def _write_key_file(path: Path, keys: list[bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(b"\n".join(keys) + b"\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def load_keys(home: Path, configured: str | None = None, *, sealed_tokens: int = 0) -> list[bytes]:
    """The keys, newest first: `configured` (the value of `RELEAF_SECRET_KEY`) if given,
    else `<home>/releaf.key`, made with one new key only while no token is sealed yet
    (`sealed_tokens`): a new key could never open the tokens already stored."""
    if configured:
        return _parse_keys(configured, KEY_ENV)
    path = key_file(home)
    if not path.exists() and not path.is_symlink():
        if sealed_tokens:
            raise SecretKeyError(
                f"the key file {path} is missing, and {sealed_tokens} stored dealer token(s) "
                f"were sealed with it: restore it from a backup (or set {KEY_ENV} to its "
                f"key); if it is lost for good, set {KEY_ENV} to a new key (`releaf secrets "
                "new-key`) and give each server its token again with `releaf server update`"
            )
        _create_key_file(home, path)
    try:
        text = path.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        why = "is a directory" if path.is_dir() else f"cannot be read ({type(exc).__name__})"
        raise SecretKeyError(
            f"the key file {path} {why}: restore the file from a backup, or set {KEY_ENV}"
        ) from None
    return _parse_keys(text, f"the key file {path}")


def _create_key_file(home: Path, path: Path) -> None:
    try:
        home.mkdir(parents=True, exist_ok=True)
        # O_EXCL: two processes starting at once must not write two different keys.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    except OSError as exc:
        raise SecretKeyError(
            f"the key file {path} cannot be created ({exc.strerror or type(exc).__name__}): "
            f"make {home} writable, or set {KEY_ENV}"
        ) from None
    with os.fdopen(fd, "wb") as fh:
        fh.write(Fernet.generate_key() + b"\n")


def load_key(home: Path, configured: str | None = None) -> bytes:
    """The newest key (the one tokens are sealed with)."""
    return load_keys(home, configured)[0]


def new_key() -> str:
    """A fresh Fernet key, as text."""
    return Fernet.generate_key().decode()


def prepend_key_file(home: Path, key: bytes, keep: int = 2) -> list[bytes]:
    """Make `key` the newest in the key file, keeping the previous one so tokens sealed
    with it still open while they are re-encrypted; older keys are dropped."""
    path = key_file(home)
    old = _parse_keys(path.read_text(), str(path)) if path.exists() else []
    keys = [key, *[k for k in old if k != key][: keep - 1]]
    _write_key_file(path, keys)
    return keys


class TokenCipher:
    """Encrypts dealer tokens with the newest key and decrypts them with any key."""

    def __init__(self, keys: bytes | list[bytes]) -> None:
        keys = [keys] if isinstance(keys, bytes) else keys
        self._fernet = MultiFernet([Fernet(k) for k in keys])

    def __repr__(self) -> str:
        return "TokenCipher(keys='***')"

    def encrypt(self, token: str) -> str:
        """The token sealed for storage (URL-safe base64 text)."""
        return self._fernet.encrypt(token.encode()).decode()

    def decrypt(self, sealed: str) -> SecretStr:
        """The stored token, opened; raises SecretKeyError when no key fits."""
        try:
            return SecretStr(self._fernet.decrypt(sealed.encode()).decode())
        except InvalidToken:
            raise SecretKeyError(
                "a stored dealer token cannot be decrypted with the current key(s): set "
                f"{KEY_ENV} to the key it was stored with, or register the server again"
            ) from None

    def rotate(self, sealed: str) -> str:
        """The same token sealed again under the newest key."""
        try:
            return self._fernet.rotate(sealed.encode()).decode()
        except InvalidToken:
            raise SecretKeyError(
                "a stored dealer token cannot be decrypted with the current key(s): keep the "
                f"old key in {KEY_ENV} (after the new one) until the rotation is done"
            ) from None
