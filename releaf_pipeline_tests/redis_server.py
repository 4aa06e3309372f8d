"""A throwaway Redis server for the tests: the Celery executor's broker and result backend.

`start` runs this machine's `redis-server` on a free loopback port, in a temporary
directory, with nothing saved to disk; `RedisServer.stop` ends it and removes the
directory. Without a `redis-server` the test fails on CI (CI=true) and is skipped
elsewhere, saying what to install.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest

START_TIMEOUT_SECONDS = 30
HOW_TO_FIX = "Install Redis (Debian: apt-get install redis-server)."


class RedisUnavailable(RuntimeError):
    """No Redis server can be had; the message says what failed."""


def unavailable(reason: str) -> NoReturn:
    """Fail the test on CI, where Redis is part of the contract; skip it elsewhere."""
    message = f"Redis needed: {reason}\n{HOW_TO_FIX}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class RedisServer:
    """A running `redis-server` of the tests'."""

    port: int
    root: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def url(self, database: int = 0) -> str:
        """The redis:// URL of `database` on this server."""
        return f"redis://127.0.0.1:{self.port}/{database}"

    def stop(self) -> None:
        """Stop the server and remove its directory. Safe to call twice."""
        process, self._process = self._process, None
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start() -> RedisServer:
    """A private `redis-server` on a free loopback port, answering PING; raises
    RedisUnavailable, saying why, when there is none to run or it does not start."""
    exe = shutil.which("redis-server")
    if exe is None:
        raise RedisUnavailable("no redis-server on PATH")
    root = Path(tempfile.mkdtemp(prefix="releaf-redis-"))
    last_error = ""
    # A port found free can be taken by another test worker before Redis binds it: retry.
    for _ in range(3):
        port = _free_port()
        log = root / "redis.log"
        process = subprocess.Popen(
            [exe, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(root),
             "--save", "", "--appendonly", "no", "--daemonize", "no", "--logfile", str(log)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        server = RedisServer(port, root, process)
        if _wait_answering(process, port):
            # Also on interpreter exit, so an interrupted session leaves no server behind.
            atexit.register(server.stop)
            return server
        last_error = log.read_text(errors="replace")[-2000:] if log.exists() else ""
        with contextlib.suppress(OSError):
            process.kill()
        process.wait()
    shutil.rmtree(root, ignore_errors=True)
    raise RedisUnavailable(f"redis-server did not start: {last_error}")


def _wait_answering(process: subprocess.Popen[bytes], port: int) -> bool:
    import redis

    client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    try:
        while time.monotonic() < deadline and process.poll() is None:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    return True
            time.sleep(0.1)
        return False
    finally:
        client.close()


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
