"""Replacing a file whole: a reader, or a crash, sees the old file or the new one, never
part of one."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable
from pathlib import Path


def replace_file(
    path: Path, data: bytes, *, private: bool = False, synced: Callable[[], None] = lambda: None
) -> None:
    """Write `data` to a temporary file next to `path`, sync it, and rename it over `path`
    (its directory made if missing, and synced after, so the rename survives a power cut).
    `private` files are the owner's alone (0600); others get what the umask allows.
    `synced` is called once the data is on disk, before the rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600 if private else 0o666)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        synced()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
