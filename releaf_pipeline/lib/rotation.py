"""Rotating the key that seals dealer tokens, so that no interruption can lose a token.

A rotation is a sequence of steps, each leaving a state the next run starts from:

1. every stored token is opened with the current keys; one that none opens stops the
   rotation before anything is written (its key is not here to keep);
2. the key file gets a new key first, keeping every key a stored token still needs
   (written atomically: the old file or the new one, never a part);
3. each token not yet sealed under the newest key is sealed again, one transaction each;
4. only then are the keys dropped that no stored token needs.

Killed anywhere, the key file still holds a key for every stored token, so running the
rotation again opens them all, adds its own new key, and completes. With
`RELEAF_SECRET_KEY` the variable holds the keys (`NEW,OLD`): only step 3 runs, and the
user drops `OLD` afterwards. `pause` is called between steps, naming the step.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cryptography.fernet import Fernet
from sqlalchemy.engine import Engine

from releaf_pipeline.lib.secrets import (
    KEY_ENV,
    SecretKeyError,
    TokenCipher,
    key_file,
    key_opening,
    load_keys,
    stale_key_files,
    write_key_file,
)
from releaf_pipeline.lib.store.engine import writing
from releaf_pipeline.lib.store.tokens import SealedToken, replace_sealed, sealed_tokens

Pause = Callable[[str], None]
LOCK_NAME = ".releaf.key.lock"


def _go_on(_step: str) -> None:
    return None


@dataclass(frozen=True)
class Rotation:
    """What a rotation did."""

    resealed: int
    """Tokens sealed again under the newest key (those already under it are left)."""
    keys: int
    """Keys left in the key file (1 unless a token sealed meanwhile still needs an old one)."""


def _unique(keys: Sequence[bytes]) -> list[bytes]:
    return list(dict.fromkeys(keys))


def needed_keys(keys: Sequence[bytes], tokens: Sequence[SealedToken], where: str) -> list[bytes]:
    """The keys the stored tokens need, in the order of `keys`; a SecretKeyError naming the
    first server whose token none of them opens."""
    needed = set()
    for token in tokens:
        key = key_opening(keys, token.sealed)
        if key is None:
            raise SecretKeyError(
                f"the dealer token of server {token.server} opens with no key in {where}: "
                f"put the key it was sealed with back in {where} (after the newest) and "
                f"rotate again, or give the server its token again with `releaf server "
                f"update {token.server}`"
            )
        needed.add(key)
    return [k for k in keys if k in needed]


def reseal(engine: Engine, keys: Sequence[bytes], *, pause: Pause = _go_on) -> int:
    """Seal every stored token that the newest of `keys` does not open alone again under
    it; returns how many were. Read again until none is left, so a token stored meanwhile
    with an older key is not missed."""
    newest = TokenCipher([keys[0]])
    cipher = TokenCipher(list(keys))
    count = 0
    while pending := [t for t in sealed_tokens(engine) if not newest.opens(t.sealed)]:
        for token in pending:
            with writing(engine) as conn:
                replaced = replace_sealed(conn, token, cipher.rotate(token.sealed))
                pause(f"token of server {token.server} sealed again, not committed")
            count += replaced
            pause(f"token of server {token.server} sealed again")
    return count


def rotate_configured(engine: Engine, keys: Sequence[bytes], *, pause: Pause = _go_on) -> int:
    """Rotate to the first key of `RELEAF_SECRET_KEY` (given as `keys`); the user drops the
    old ones from the variable afterwards."""
    needed_keys(keys, sealed_tokens(engine), KEY_ENV)
    pause("keys read")
    return reseal(engine, keys, pause=pause)


@contextmanager
def _rotation_lock(home: Path) -> Iterator[None]:
    home.mkdir(parents=True, exist_ok=True)
    fd = os.open(home / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        try:
            # Released by the kernel when the process ends, however it ends.
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SecretKeyError(
                f"another `releaf secrets rotate` is running on {key_file(home)}: let it "
                "finish, then run this again if a newer key is still wanted"
            ) from None
        yield
    finally:
        os.close(fd)


def rotate_key_file(engine: Engine, home: Path, *, pause: Pause = _go_on) -> Rotation:
    """Put a new key first in the key file, seal every token under it, then drop the keys
    no stored token needs. Safe to run again after an interruption at any point."""
    where = f"the key file {key_file(home)}"
    with _rotation_lock(home):
        for stale in stale_key_files(home):
            stale.unlink(missing_ok=True)  # left by a rotation killed mid-write
        tokens = sealed_tokens(engine)
        current = load_keys(home, None, sealed_tokens=len(tokens))
        needed = needed_keys(current, tokens, where)
        pause("keys read")
        new = Fernet.generate_key()
        # The newest key so far stays as well: a process that read the file before now
        # may be sealing a token with it.
        keys = _unique([new, current[0], *needed])
        write_key_file(home, keys, pause=lambda step: pause(f"with the new key: {step}"))
        pause("new key in place")
        count = reseal(engine, keys, pause=pause)
        # Read again: a token stored meanwhile keeps the key it was sealed with.
        current = load_keys(home, None)
        keep = _unique([new, *needed_keys(current, sealed_tokens(engine), where)])
        write_key_file(home, keep, pause=lambda step: pause(f"without the old keys: {step}"))
        pause("old keys dropped")
    return Rotation(count, len(keep))
