"""A throwaway PostgreSQL server for the tests, one per pytest session (per xdist worker).

`RELEAF_TEST_POSTGRES_URL` (an admin URL such as
`postgresql://postgres:secret@db.example:5432/postgres`) points the tests at an existing
server instead. Otherwise the PostgreSQL binaries found on this machine run a private
cluster in a temporary directory on a free loopback port, with durability switched off
(nothing in it outlives the session), and the cluster is stopped and removed at the end.

Every test gets its own database from `PostgresServer.new_database`, so tests never see
each other's rows, whichever worker runs them.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import pwd
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import NoReturn

import pytest
import sqlalchemy as sa
import yaml

from releaf_pipeline.dagster_internals import RUN_COORDINATOR_MODULE

ENV_URL = "RELEAF_TEST_POSTGRES_URL"
OS_USER = "postgres"
DEFAULT_BINDIR = Path("/usr/lib/postgresql/15/bin")
START_TIMEOUT_SECONDS = 60
HOW_TO_FIX = (
    "Install PostgreSQL (Debian: apt-get install postgresql-15) or set "
    f"{ENV_URL}=postgresql://USER:PASSWORD@HOST:PORT/postgres to use an existing server."
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be had; the message says what failed."""


def unavailable(reason: str) -> NoReturn:
    """Fail the test on CI, where Postgres is part of the contract; skip it elsewhere."""
    message = f"PostgreSQL needed: {reason}\n{HOW_TO_FIX}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


@dataclass
class PostgresServer:
    """A running server the tests may create databases on, as an admin user."""

    host: str
    port: int
    user: str
    password: str
    admin_database: str
    _stop: Callable[[], None] | None = None
    _created: list[str] = field(default_factory=list)
    _counter: itertools.count = field(default_factory=itertools.count)

    def url(self, database: str) -> str:
        """The SQLAlchemy (psycopg2) URL of `database` on this server, password included."""
        return sa.engine.URL.create(
            "postgresql+psycopg2",
            username=self.user,
            password=self.password or None,
            host=self.host,
            port=self.port,
            database=database,
        ).render_as_string(hide_password=False)

    def new_database(self, name_hint: str) -> str:
        """Create an empty database named after `name_hint` (made unique); return its URL."""
        slug = re.sub(r"[^a-z0-9]+", "_", name_hint.lower()).strip("_")[:30] or "db"
        # pid and a random suffix: xdist workers sharing an external server never collide.
        name = f"t_{slug}_{os.getpid()}_{next(self._counter)}_{uuid.uuid4().hex[:6]}"
        self._admin_execute(f'CREATE DATABASE "{name}"')
        self._created.append(name)
        return self.url(name)

    def postgres_db_config(self, url: str) -> dict[str, object]:
        """The `storage: postgres: postgres_db:` block of a Dagster instance for `url`."""
        return {
            "username": self.user,
            "password": self.password,
            "hostname": self.host,
            "db_name": sa.engine.make_url(url).database,
            "port": self.port,
            # SQLAlchemy 2.1 maps a bare postgresql:// to psycopg 3, which is not installed.
            "scheme": "postgresql+psycopg2",
        }

    def instance_yaml(self, url: str) -> str:
        """A Dagster instance file whose runs, events and schedules are in the database of
        `url`, each run launched at once by the default run launcher (no daemon)."""
        return yaml.safe_dump(
            {
                "storage": {"postgres": {"postgres_db": self.postgres_db_config(url)}},
                "telemetry": {"enabled": False},
                "run_coordinator": {
                    "module": RUN_COORDINATOR_MODULE,
                    "class": "DefaultRunCoordinator",
                },
            }
        )

    def close(self) -> None:
        """Stop the server if the tests started it, else drop the databases they made."""
        if self._stop is not None:
            stop, self._stop = self._stop, None
            stop()
            return
        while self._created:
            name = self._created.pop()
            # Best effort: a leftover database on a shared server is untidy, not wrong.
            with contextlib.suppress(Exception):
                self._admin_execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin_execute(self, statement: str) -> None:
        import psycopg2

        conn = psycopg2.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=self.admin_database,
            connect_timeout=10,
        )
        try:
            # CREATE/DROP DATABASE cannot run inside a transaction block.
            conn.autocommit = True
            with conn.cursor() as cur:
                cur.execute(statement)
        finally:
            conn.close()


def acquire() -> PostgresServer:
    """The server named by `RELEAF_TEST_POSTGRES_URL`, else a freshly started private one.

    Raises PostgresUnavailable, saying why, when neither works.
    """
    url = os.environ.get(ENV_URL, "").strip()
    return connect_existing(url) if url else start_private()


def connect_existing(url: str) -> PostgresServer:
    """A PostgresServer for the admin URL of a server someone else runs."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise PostgresUnavailable(f"{ENV_URL} is not a database URL: {exc}") from None
    if parsed.get_backend_name() != "postgresql":
        raise PostgresUnavailable(f"{ENV_URL} must be a postgresql:// URL, not {parsed.drivername}")
    server = PostgresServer(
        host=parsed.host or "127.0.0.1",
        port=parsed.port or 5432,
        user=parsed.username or OS_USER,
        password=parsed.password or "",
        admin_database=parsed.database or "postgres",
    )
    try:
        server._admin_execute("SELECT 1")
    except Exception as exc:
        shown = parsed.render_as_string(hide_password=True)
        raise PostgresUnavailable(f"cannot connect to {ENV_URL} ({shown}): {exc}") from None
    return server


def find_bindir() -> Path:
    """The directory holding initdb, pg_ctl and postgres."""
    candidates = [DEFAULT_BINDIR]
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                candidates.append(Path(out))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)
    for bindir in candidates:
        if all((bindir / exe).is_file() for exe in ("initdb", "pg_ctl", "postgres")):
            return bindir
    searched = ", ".join(str(c) for c in dict.fromkeys(candidates))
    raise PostgresUnavailable(
        f"no PostgreSQL server binaries (initdb, pg_ctl, postgres) in {searched} or on PATH"
    )


def start_private() -> PostgresServer:
    """Start a private cluster on a free loopback port; it is stopped by `close()`."""
    bindir = find_bindir()
    as_user = _run_as_user()
    root = Path(tempfile.mkdtemp(prefix="releaf-pg-", dir=_traversable_tmp()))
    data, sockets, log = root / "data", root / "sock", root / "server.log"
    try:
        if as_user is not None:
            shutil.chown(root, user=OS_USER, group=pwd.getpwnam(OS_USER).pw_gid)
        _run(as_user, root, [bindir / "initdb", "-D", data, "-A", "trust", "-U", OS_USER,
                             "--no-sync", "-E", "UTF8", "--locale=C"])  # fmt: skip
        _run(as_user, root, ["mkdir", "-m", "0700", sockets])
        port = _start(as_user, root, bindir, data, sockets, log)
    except BaseException:
        # A server that started but never answered must not outlive its directory.
        if (data / "postmaster.pid").exists():
            with contextlib.suppress(PostgresUnavailable):
                _run(as_user, root, [bindir / "pg_ctl", "-D", data, "-m", "immediate", "stop"])
        shutil.rmtree(root, ignore_errors=True)
        raise

    stopped = False

    def stop() -> None:
        nonlocal stopped
        if stopped:
            return
        stopped = True
        with contextlib.suppress(Exception):
            _run(as_user, root, [bindir / "pg_ctl", "-D", data, "-m", "fast", "-w", "stop"])
        shutil.rmtree(root, ignore_errors=True)

    # Also on interpreter exit, so an interrupted session leaves no server behind.
    atexit.register(stop)
    return PostgresServer(
        host="127.0.0.1", port=port, user=OS_USER, password="", admin_database="postgres",
        _stop=stop,
    )  # fmt: skip


def _start(
    as_user: str | None, root: Path, bindir: Path, data: Path, sockets: Path, log: Path
) -> int:
    last_error = ""
    # A port found free can be taken by another worker before the server binds it: retry.
    for _ in range(3):
        port = _free_port()
        options = (
            f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        try:
            _run(as_user, root, [bindir / "pg_ctl", "-D", data, "-l", log, "-w", "-t",
                                 str(START_TIMEOUT_SECONDS), "-o", options, "start"])  # fmt: skip
        except PostgresUnavailable as exc:
            last_error = f"{exc}\n{_tail(log)}"
            continue
        _wait_accepting(port)
        return port
    raise PostgresUnavailable(f"the PostgreSQL server did not start: {last_error}")


def _run_as_user() -> str | None:
    """The OS user to run the server as: `postgres` when root (initdb refuses root)."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(OS_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root and there is no {OS_USER!r} OS user to run the server as"
        ) from None
    return OS_USER


def _traversable_tmp() -> Path:
    """A temp directory whose every parent the postgres user may enter."""
    for candidate in (tempfile.gettempdir(), "/tmp", "/var/tmp"):
        path = Path(candidate).resolve()
        if path.is_dir() and all(p.stat().st_mode & stat.S_IXOTH for p in (path, *path.parents)):
            return path
    raise PostgresUnavailable(
        f"no temporary directory the {OS_USER!r} user can reach (tried $TMPDIR, /tmp, /var/tmp)"
    )


def _run(as_user: str | None, cwd: Path, argv: list[object]) -> None:
    args = [str(a) for a in argv]
    if as_user is not None:
        if shutil.which("runuser"):
            args = ["runuser", "-u", as_user, "--", *args]
        else:
            args = ["su", as_user, "-s", "/bin/sh", "-c", shlex.join(args)]
    # Output to a file, not a pipe: the postmaster pg_ctl leaves behind must not hold
    # our pipe open, or waiting for pg_ctl would wait for the server to exit.
    with tempfile.TemporaryFile() as out:
        try:
            proc = subprocess.run(
                args, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                timeout=START_TIMEOUT_SECONDS + 30, check=False,
            )  # fmt: skip
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PostgresUnavailable(f"{shlex.join(args)}: {exc}") from None
        if proc.returncode != 0:
            out.seek(0)
            text = out.read().decode(errors="replace").strip()[-2000:]
            raise PostgresUnavailable(f"{shlex.join(args)} exited with {proc.returncode}: {text}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_accepting(port: int) -> None:
    import psycopg2

    deadline = time.monotonic() + START_TIMEOUT_SECONDS
    while True:
        try:
            psycopg2.connect(
                host="127.0.0.1", port=port, user=OS_USER, dbname="postgres", connect_timeout=5
            ).close()
            return
        except psycopg2.OperationalError as exc:
            if time.monotonic() > deadline:
                raise PostgresUnavailable(f"the server on port {port} refuses: {exc}") from None
            time.sleep(0.2)


def _tail(log: Path) -> str:
    try:
        return log.read_text(errors="replace")[-2000:]
    except OSError:
        return ""
