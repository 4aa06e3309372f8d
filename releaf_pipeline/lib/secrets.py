"""Dealer tokens encrypted at rest.

Tokens are sealed with Fernet (AES-128-CBC + HMAC-SHA256, so tampering is detected). The
keys come from `RELEAF_SECRET_KEY`, or from a key file created with mode 0600 on first
use; either may hold several keys, newest first: tokens are sealed with the first and
opened with any, which is how a key is rotated without downtime. A token is only ever
decrypted in memory, right before a request needs it.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from pydantic import SecretStr

from releaf_pipeline.lib.errors import ReleafError
from releaf_pipeline.lib.files import replace_file

KEY_ENV = "RELEAF_SECRET_KEY"
KEY_FILE_NAME = "releaf.key"


class SecretKeyError(ReleafError, RuntimeError):
    """The encryption key is missing, malformed or does not open a stored token."""


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


def write_key_file(
    home: Path, keys: list[bytes], *, pause: Callable[[str], None] = lambda _: None
) -> None:
    """Replace the key file with `keys` (newest first), whole (`files.replace_file`), readable
    by its owner only. `pause` is called before the rename."""
    replace_file(
        key_file(home), b"\n".join(keys) + b"\n", private=True,
        synced=lambda: pause("key file written, not yet in place"),
    )  # fmt: skip


def stale_key_files(home: Path) -> list[Path]:
    """Temporary key files a write that was killed before its rename left behind."""
    return sorted(home.glob(f".{KEY_FILE_NAME}.*.tmp"))


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
                f"{KEY_ENV} is not set and the key file {path} is missing, and "
                f"{sealed_tokens} stored dealer token(s) were sealed with a key: set {KEY_ENV} "
                "to it (a store on Postgres is shared, so every host needs it set) or restore "
                f"the key file from a backup; if it is lost for good, set {KEY_ENV} to a new "
                "key (`releaf secrets new-key`) and give each server its token again with "
                "`releaf server update`"
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


def new_key() -> str:
    """A fresh Fernet key, as text."""
    return Fernet.generate_key().decode()


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

    def opens(self, sealed: str) -> bool:
        """Whether some key of this cipher opens the stored token."""
        try:
            self._fernet.decrypt(sealed.encode())
        except InvalidToken:
            return False
        return True

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


def key_opening(keys: Sequence[bytes], sealed: str) -> bytes | None:
    """The first of `keys` that opens the stored token, or None."""
    return next((k for k in keys if TokenCipher([k]).opens(sealed)), None)


def key_source(home: Path, configured: str | None) -> str:
    """Where the keys come from, as a user would fix it: the variable or the key file."""
    return KEY_ENV if configured else f"the key file {key_file(home)}"


def open_cipher(home: Path, configured: str | None, sealed: Sequence[str]) -> TokenCipher:
    """The cipher for the configured keys, checked against the stored tokens: any one
    opening is enough (a token sealed with another key fails its own server only); none
    opening means the key is the wrong one, which is refused here, in one line, before a
    command writes anything, rather than found inside a run."""
    keys = load_keys(home, configured, sealed_tokens=len(sealed))
    cipher = TokenCipher(keys)
    if sealed and not any(cipher.opens(s) for s in sealed):
        where = key_source(home, configured)
        fix = (
            f"set {KEY_ENV} to the key they were sealed with (during a rotation, NEW,OLD)"
            if configured
            else f"restore the key file from a backup, or set {KEY_ENV} to their key"
        )
        raise SecretKeyError(
            f"{where} opens none of the {len(sealed)} stored dealer token(s), so it is not "
            f"the key they were sealed with: {fix}; if that key is lost for good, give each "
            "server its token again with `releaf server update NAME`"
        )
    return cipher
