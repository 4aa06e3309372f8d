"""Every `releaf` command, given bad input, as a user runs it (the installed script, in its
own process): it exits non-zero with exactly one line on stderr, prints no traceback and
no Dagster warning, and leaves the store and the Dagster instance as they were.

The commands come from the click group itself: a command added without a case here fails
`test_every_command_has_bad_input_cases`.
"""

from __future__ import annotations

import hashlib
import os
import re
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import click
import pytest

from releaf_pipeline.cli.group import releaf as releaf_group
from releaf_pipeline.replay import night_time
from releaf_pipeline.simulator.config import FleetConfig
from releaf_pipeline.simulator.fleet import Fleet
from releaf_pipeline.simulator.server import Simulator

pytestmark = pytest.mark.e2e

TODAY = date(2026, 10, 12)
NOW = f"{TODAY.isoformat()}T03:00:00+00:00"
BAD_DATES = ["2026-13-01", "20261001", "2026-W40-4", " 2026-1", "2026-+1"]
# What a traceback or a Python/Dagster warning looks like (BetaWarning, PreviewWarning...).
NOISE = re.compile(r"Traceback \(most recent call last\)|\b\w*Warning\b")


@dataclass(frozen=True)
class Case:
    """One bad invocation: its arguments (with {placeholders}) and extra environment."""

    args: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    damage: str | None = None
    """What is wrong with DAGSTER_HOME while the command runs (a key of DAMAGE)."""

    @property
    def label(self) -> str:
        shown = " ".join(repr(a) if " " in a or not a else a for a in self.args)
        extra = " ".join(f"{k}={v}" for k, v in self.env.items())
        damaged = f"[{self.damage}]" if self.damage else ""
        return f"{damaged} {extra} {shown}".strip() or "(no arguments)"


def case(*args: str, **env: str) -> Case:
    return Case(tuple(args), env)


def damaged(damage: str, *args: str) -> Case:
    return Case(tuple(args), {}, damage)


def _truncate(path: Path, size: int) -> None:
    with path.open("r+b") as fh:
        fh.truncate(size)


def _immutable(path: Path, on: bool) -> None:
    """Make the directory `path` read-only even for root (who ignores its mode)."""
    if os.geteuid() != 0:
        path.chmod(0o555 if on else 0o755)
        return
    done = subprocess.run(["chattr", "+i" if on else "-i", str(path)], capture_output=True)
    assert done.returncode == 0, f"chattr cannot make {path} read-only: {done.stderr!r}"


# Each damage is done to the world's DAGSTER_HOME just before the command and undone after
# it; the files it damages are compared before and after the command as well.
DAMAGE = {
    "key file missing": lambda home: (home / "releaf.key").unlink(),
    "key file empty": lambda home: (home / "releaf.key").write_bytes(b""),
    "key file a directory": lambda home: (
        (home / "releaf.key").unlink(),
        (home / "releaf.key").mkdir(),
    ),
    "store cut to 0 bytes": lambda home: _truncate(home / "releaf.db", 0),
    "store cut in half": lambda home: _truncate(
        home / "releaf.db", (home / "releaf.db").stat().st_size // 2
    ),
    "disk full": lambda home: None,  # the command's files cannot grow: see World.run
}


def _dates(option: str, *rest: str) -> list[Case]:
    return [case(option, bad, *rest) for bad in BAD_DATES]


FEED = ("--server", "east", "--customer-code", "{code}", "--account", "acct-z", "--scope", "all")
FEED_DATE = (*FEED, "--activation-date")

CASES: dict[tuple[str, ...], list[Case]] = {
    (): [case("--bogus"), case("nosuch")],
    ("server",): [case("nosuch")],
    ("server", "add"): [
        case("west", "--url", "http://127.0.0.1:1", RELEAF_DEALER_TOKEN="t"),
        case("west", "--url", "{url}", "--ca-bundle", "{missing}", RELEAF_DEALER_TOKEN="t"),
        case("west", "--url", "{url}", "--ca-bundle", "{directory}", RELEAF_DEALER_TOKEN="t"),
        case("west", "--url", "{url}", "--ca-bundle", "{binary}", RELEAF_DEALER_TOKEN="t"),
        case("west", "--url", "{url}", "--ca-bundle", "{not_utf8}", RELEAF_DEALER_TOKEN="t"),
        case("west", "--url", "{url}", "--ca-bundle", "{not_pem}", RELEAF_DEALER_TOKEN="t"),
        case("west", "--url", "{url}", "--ca-bundle", "{ca}"),  # no token, no terminal
        case("west", "--url", "{url}", "--ca-bundle", "{ca}", RELEAF_DEALER_TOKEN="wrong"),
        case("east", "--url", "{url}", "--ca-bundle", "{ca}", RELEAF_DEALER_TOKEN="{token}"),
        case("west", "--bogus"),
        # The same server under another spelling of its URL, or another name.
        case("west", "--url", "{url}/", "--ca-bundle", "{ca}", RELEAF_DEALER_TOKEN="{token}"),
        case("west", "--url", "{url_upper}", "--ca-bundle", "{ca}", RELEAF_DEALER_TOKEN="{token}"),
        # Names no terminal shows as typed: empty, ESC, newline, right-to-left override.
        *(
            case(name, "--url", "{url}", "--ca-bundle", "{ca}", RELEAF_DEALER_TOKEN="{token}")
            for name in ("", " ", "we\x1b[2Jst", "we\nst", "we\u202est", "x" * 101)
        ),
        # Tokens that cannot go into an HTTP header.
        *(
            case("west", "--url", "{url}", "--ca-bundle", "{ca}", RELEAF_DEALER_TOKEN=token)
            for token in ("tok\r\nen", "tökén", " ")
        ),
        # Host names that are not host names.
        *(
            case("west", "--url", url, RELEAF_DEALER_TOKEN="t")
            for url in (
                "https://xn--a.example",
                "https://éxä..com",
                "https://exa mple.com",
                "https://[::1",
                "https://host:99999",
                "https://" + "b" * 300 + ".com",
            )
        ),
    ],
    ("server", "update"): [
        case("nosuch", RELEAF_DEALER_TOKEN="t"),
        case("east"),  # nothing to change: no option, no token, no terminal
        case("east", "--url", "http://127.0.0.1:1"),
        case("east", "--ca-bundle", "{missing}"),
        case("east", "--ca-bundle", "{binary}"),
        case("east", RELEAF_DEALER_TOKEN="wrong"),
        case("east", RELEAF_DEALER_TOKEN="bad\ntoken"),
    ],
    ("server", "remove"): [case("nosuch"), case("east"), case()],
    ("server", "list"): [
        case("--bogus"),
        case("extra"),
        case(RELEAF_DATABASE_URL="garbage"),
        case(RELEAF_DATABASE_URL="postgresql://releaf@127.0.0.1:1/releaf"),
        case(RELEAF_DATABASE_URL="foo://"),
        case(RELEAF_DATABASE_URL="mysql://releaf@127.0.0.1:1/releaf"),
        case(RELEAF_DATABASE_URL="sqlite:///{a_file}/store/releaf.db"),
        case(RELEAF_DATABASE_URL="sqlite:///{directory}"),
        case(DAGSTER_HOME="{a_file}"),
        case(DAGSTER_HOME="{read_only_home}"),
    ],
    ("feed",): [case("nosuch")],
    ("feed", "add"): [
        damaged("disk full", *FEED_DATE, "2026-10-01"),
        *(case(*FEED_DATE, bad) for bad in BAD_DATES),
        case("--server", "nosuch", *FEED[2:], "--activation-date", "2026-10-01"),
        case(*FEED_DATE, "2026-10-01", "--scope", "some"),
        case(*FEED_DATE, "2026-10-01", "--account-name", "Bad\x07Name"),
        case(*FEED_DATE, "0001-01-01"),
        case(*FEED_DATE, "2099-01-01"),
        case(
            "--server",
            "east",
            "--customer-code",
            "AB\x1bCD",
            *FEED[4:],
            "--activation-date",
            "2026-10-01",
        ),
        case(
            "--server",
            "east",
            "--customer-code",
            "{code}",
            "--account",
            "acct\u202ez",
            "--scope",
            "all",
            "--activation-date",
            "2026-10-01",
        ),
        # The customer is already fed from this server, into another account.
        case(
            "--server",
            "east",
            "--customer-code",
            "{fed_code}",
            "--account",
            "acct-z",
            "--scope",
            "all",
            "--activation-date",
            "2026-10-01",
        ),
    ],
    ("feed", "import"): [
        case("{missing}"),
        case("{directory}"),
        case("{binary}"),
        case("{not_utf8}"),
        case("{nul_csv}"),
        case("{unknown_server_csv}"),
        case("{big_field_csv}"),
        case("{control_csv}"),
        case("{latin1_csv}"),
    ],
    ("feed", "list"): [
        case("--bogus"),
        case(RELEAF_NOW="garbage"),
        damaged("store cut to 0 bytes"),
    ],
    ("feed", "pause"): [case("NOSUCH"), case(), case("east/NOSUCH")],
    ("feed", "resume"): [case("NOSUCH"), case()],
    ("feed", "remove"): [case("NOSUCH"), case()],
    ("feed", "update"): [
        case("{code}"),
        case("NOSUCH", "--scope", "all"),
        case("{code}", "--scope", "some"),
        case("{code}", "--account", "bad\x1b[2Jaccount"),
        case("{code}", "--account", "x" * 101),
        *(case("{code}", "--activation-date", bad) for bad in BAD_DATES),
        case("{code}", "--activation-date", "0001-01-01"),
        case("{code}", "--activation-date", "2099-01-01"),
    ],
    ("collect",): [
        case("--start", "2026-10-11", DAGSTER_HOME="{read_only_home}"),
        *_dates("--start"),
        *(
            damaged(damage, "--start", "2026-10-11")
            for damage in (
                "key file missing",
                "key file empty",
                "key file a directory",
                "store cut in half",
                "disk full",
            )
        ),
        case("--start", "2026-10-10", "--end", "2026-10-09"),
        case("--start", TODAY.isoformat()),
        case("--start", "2026-10-10", "--end", TODAY.isoformat()),
        case("--start", "2024-12-31"),
        case("--start"),
        # Settings that do not parse: refused before any run.
        *(
            case("--start", "2026-10-11", **{name: value})
            for name, value in (
                ("RELEAF_CATCHUP_SECONDS", "abc"),
                ("RELEAF_CONCURRENCY_PER_SERVER", "abc"),
                ("RELEAF_CONCURRENCY_PER_SERVER", "0"),
                ("RELEAF_NIGHTLY_CRON", "garbage"),
                ("RELEAF_HOLIDAYS", "notadate"),
                ("RELEAF_RUN_MAX_SECONDS", "5"),
                ("RELEAF_PARTITIONS_START", "2026-13-01"),
                ("RELEAF_NOW", "yesterday"),
                ("RELEAF_SECRET_KEY", "not-a-key"),
            )
        ),
    ],
    ("backfill",): [
        *_dates("--start", "--end", "2026-10-11"),
        *(case("--start", "2026-10-10", "--end", bad) for bad in BAD_DATES),
        case("--start", "2026-10-10", "--end", "2026-10-11", "--feed", "east/NOSUCH"),
        case("--start", "2026-10-10", "--end", TODAY.isoformat()),
        case("--start", "2026-10-10"),
    ],
    ("nightly",): [
        *_dates("--date"),
        damaged("key file missing", "--date", "2026-10-11"),
        case("--date", TODAY.isoformat()),
        case("--date", "2099-01-01"),
        case("--date", "2024-12-31"),
        case(),
    ],
    ("report",): [case("--month", "2026-13"), case("--month", "2026-10-01"), case()],
    ("certificates",): [case("nosuch")],
    ("alerts",): [case("nosuch")],
    ("alerts", "list"): [
        case("--limit", "0"),
        case("--limit", "x"),
        case(RELEAF_ALERT_WEBHOOK_URL="http://chat.example.com/hooks/T0K3N"),
    ],
    ("alerts", "test"): [
        case(),  # no channel configured
        case("extra"),
        case(RELEAF_ALERT_SMTP_URL="smtp://relay.example.com", RELEAF_ALERT_EMAIL_FROM="x"),
    ],
    ("certificates", "list"): [case("--month", "2026-13"), case("--month", "202610")],
    ("certificates", "show"): [case("RC-NOSUCH"), case()],
    ("secrets",): [case("nosuch")],
    ("secrets", "new-key"): [case("extra")],
    ("secrets", "rotate"): [
        case(RELEAF_SECRET_KEY="not-a-key"),
        case("extra"),
        damaged("key file missing"),
        damaged("key file empty"),
    ],
    ("db",): [case("nosuch")],
    ("db", "upgrade"): [
        case("--bogus"),
        case(RELEAF_DATABASE_URL="garbage"),
        case(RELEAF_DATABASE_URL="postgresql+psycopg2://releaf@127.0.0.1:1/releaf"),
    ],
    ("db", "check"): [
        case("--bogus"),
        case(RELEAF_DATABASE_URL="garbage"),
        damaged("store cut in half"),
    ],
    ("demo",): [case("--port", "0"), case("--port", "x"), case("--bogus")],
    ("simulator",): [
        case("--port", "x"),
        case("--port", "99999"),
        case("--customers", "-3"),
        case("--today", "2026-13-01"),
        case("--bogus"),
    ],
}

GOOD: list[tuple[str, ...]] = [
    ("server", "list"),
    ("server", "list", "--json"),
    ("feed", "list"),
    ("feed", "list", "--json"),
    ("report", "--month", "2026-10"),
    ("certificates", "list"),
    ("db", "upgrade"),
    ("db", "check"),
    ("collect", "--start", "2026-10-11"),
    ("nightly", "--date", "2026-10-11"),
]


def command_paths(command: click.Command, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and group under `command`, as the words that name it."""
    yield path
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from command_paths(sub, (*path, name))


def _releaf() -> list[str]:
    exe = Path(sys.executable).parent / "releaf"
    found = str(exe) if exe.exists() else shutil.which("releaf")
    script = "from releaf_pipeline.cli import console; console()"
    return [found] if found else [sys.executable, "-c", script]


def _no_file_growth() -> None:
    """In the command's process: no file can grow past 4 KiB, as on a full disk (writes
    fail with an error instead of the signal that would kill the process)."""
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))


@dataclass
class World:
    """A private DAGSTER_HOME with a store that has a server, feeds and collected days."""

    home: Path
    env: dict[str, str]
    values: dict[str, str]
    sim: Simulator

    def run(self, args: tuple[str, ...], env: dict[str, str] | None = None, *,
            disk_full: bool = False):  # fmt: skip
        extra = {k: v.format(**self.values) for k, v in (env or {}).items()}
        return subprocess.run(
            [*_releaf(), *(a.format(**self.values) for a in args)],
            cwd=self.home.parent, env={**self.env, **extra}, stdin=subprocess.DEVNULL,
            capture_output=True, text=True, timeout=300,
            preexec_fn=_no_file_growth if disk_full else None,
        )  # fmt: skip

    @contextmanager
    def damaged(self, damage: str | None) -> Iterator[None]:
        """The home with `damage` done to it, undone after; the damaged files must be as
        the damage left them when the command is over."""
        if damage is None:
            yield
            return
        # Everything into the store's main file first, as after a quiet night: a damage to
        # the file is then a damage to the data, not to pages the WAL still holds.
        with sqlite3.connect(self.home / "releaf.db") as conn:
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        saved = {name: (self.home / name).read_bytes() for name in ("releaf.key", "releaf.db")}
        DAMAGE[damage](self.home)
        left = self._files()
        try:
            yield
            assert self._files() == left, f"the command changed the damaged home ({damage})"
        finally:
            key = self.home / "releaf.key"
            if key.is_dir():
                key.rmdir()
            for name, data in saved.items():
                (self.home / name).write_bytes(data)

    def _files(self) -> dict[str, str]:
        return {
            p.name: hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "directory"
            for p in sorted(self.home.iterdir())
            if p.name in ("releaf.key", "releaf.db")
        }

    def state(self) -> dict[str, object]:
        """Row count and content hash of every table of the store, and the runs in the
        Dagster instance."""
        out: dict[str, object] = {}
        with sqlite3.connect(self.home / "releaf.db") as conn:
            names = [
                n for (n,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            for name in sorted(names):
                rows = sorted(repr(r) for r in conn.execute(f'SELECT * FROM "{name}"'))
                out[name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        runs = self.home / "history" / "runs.db"
        with sqlite3.connect(runs) as conn:
            out["dagster runs"] = conn.execute("SELECT count(*) FROM runs").fetchone()[0]
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    root = tmp_path_factory.mktemp("bad_input")
    home = root / "dagster_home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RELEAF_", "DAGSTER_"))}
    env.update(DAGSTER_HOME=str(home), RELEAF_NOW=NOW)
    fleet = Fleet(FleetConfig())
    with Simulator(fleet, today=TODAY, workdir=root / "sim") as sim:
        directory = root / "a-directory"
        directory.mkdir()
        binary = root / "binary.csv"
        binary.write_bytes(bytes(range(256)) * 4)
        not_utf8 = root / "image.csv"
        not_utf8.write_bytes(b"\x89PNG\r\n\x1a\n\xff\xfe\xfd" * 20)  # no NUL byte
        not_pem = root / "not-a-cert.pem"
        not_pem.write_text("just some text\n")
        nul_csv = root / "nul.csv"
        nul_csv.write_bytes(b"server,customer_code,account,activation_date,scope\n"
                            b"east,AB\x00CD,acct-z,2026-10-01,all\n")  # fmt: skip
        header = "server,customer_code,account,activation_date,scope\n"
        big_field = root / "big-field.csv"
        big_field.write_text(header + f"east,{'A' * 200_000},acct-z,2026-10-01,all\n")
        control = root / "control.csv"
        control.write_text(header + "east,ABCD,acct\x1b[2Jz,2026-10-01,all\n")
        latin1 = root / "latin1.csv"
        latin1.write_bytes((header + "east,ABCD,caf\xe9,2026-10-01,all\n").encode("latin-1"))
        read_only_home = root / "read-only-home"
        read_only_home.mkdir()
        _immutable(read_only_home, True)
        a_file = root / "a-file"
        a_file.write_text("not a directory\n")
        unknown = root / "unknown.csv"
        unknown.write_text("server,customer_code,account,activation_date,scope\n"
                           "nosuch,ABCD,acct-z,2026-10-01,all\n")  # fmt: skip
        values = {
            "url": sim.url, "ca": str(sim.ca_bundle), "token": sim.token,
            "code": fleet.customer_codes[2], "missing": str(root / "missing.csv"),
            "directory": str(directory), "binary": str(binary), "nul_csv": str(nul_csv),
            "not_utf8": str(not_utf8), "not_pem": str(not_pem),
            "unknown_server_csv": str(unknown), "big_field_csv": str(big_field),
            "control_csv": str(control), "latin1_csv": str(latin1), "a_file": str(a_file),
            "read_only_home": str(read_only_home),
            "url_upper": sim.url.upper(),
            "fed_code": fleet.customer_codes[0],
        }  # fmt: skip
        w = World(home, env, values, sim)
        setup = [
            (("server", "add", "east", "--url", "{url}", "--ca-bundle", "{ca}"),
             {"RELEAF_DEALER_TOKEN": "{token}"}),
            *((("feed", "add", "--server", "east", "--customer-code", code, "--account", acct,
                "--activation-date", "2026-09-01", "--scope", "all"), {})
              for code, acct in zip(fleet.customer_codes[:2], ["acct-a", "acct-b"], strict=True)),
            (("collect", "--start", "2026-10-09", "--end", "2026-10-10"), {}),
        ]  # fmt: skip
        for args, extra in setup:
            done = w.run(args, extra)
            assert done.returncode == 0, (args, done.stderr)
        try:
            yield w
        finally:
            _immutable(read_only_home, False)


def test_every_command_has_bad_input_cases():
    missing = set(command_paths(releaf_group)) - set(CASES)
    assert not missing, f"give these commands bad-input cases: {sorted(missing)}"
    assert all(CASES.values())


@pytest.mark.parametrize(
    ("path", "bad"),
    [(path, c) for path, cases in CASES.items() for c in cases],
    ids=[" ".join(("releaf", *p, c.label)) for p, cases in CASES.items() for c in cases],
)
def test_bad_input_is_one_line_and_changes_nothing(world: World, path, bad: Case):
    before = world.state()
    with world.damaged(bad.damage):
        done = world.run((*path, *bad.args), bad.env, disk_full=bad.damage == "disk full")
    after = world.state()
    shown = f"stdout={done.stdout!r} stderr={done.stderr!r}"
    assert done.returncode != 0, shown
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].strip(), shown
    assert not NOISE.search(done.stdout + done.stderr), shown
    # The catch-all for bugs names itself: bad input must be refused on purpose.
    assert "a bug in releaf" not in done.stderr, shown
    if bad.damage == "store cut in half" and "the SQLite store failed" in done.stderr:
        # Where the cut falls, the damage may show only when the run reads those pages:
        # the run is there, failed, with the same line at the top of its failure, and so
        # may be what its first steps handed on to the next (the run's own, pruned later).
        failed = r"step meter_readings\S* failed: the SQLite store failed"
        assert re.search(failed, done.stderr), shown
        before["dagster runs"] = int(before["dagster runs"]) + 1  # type: ignore[call-overload]
        before["step_outputs"] = after["step_outputs"]
    assert after == before, shown


@pytest.mark.parametrize(
    "path", sorted(set(command_paths(releaf_group))), ids=lambda p: " ".join(("releaf", *p))
)
def test_help_of_every_command(world: World, path):
    done = world.run((*path, "--help"))
    assert done.returncode == 0 and done.stdout.strip(), done.stderr
    assert done.stderr == "" and not NOISE.search(done.stdout), done.stderr


@pytest.mark.long
def test_good_input_prints_no_dagster_warning(world: World):
    world.sim.set_now(night_time(date(2026, 10, 11)))
    for args in GOOD:
        done = world.run(args)
        assert done.returncode == 0, (args, done.stdout, done.stderr)
        assert not NOISE.search(done.stdout + done.stderr), (args, done.stderr)


def test_a_bug_is_one_line_unless_debug(home, releaf, monkeypatch):
    def broken(app):
        raise RuntimeError("boom")

    monkeypatch.setattr("releaf_pipeline.cli.registry._fleet", broken)
    r = releaf("feed", "list")
    assert r.code == 1 and r.err.count("\n") == 1, r.err
    assert r.err.startswith("releaf: error: unexpected RuntimeError: boom - a bug in releaf")
    with pytest.raises(RuntimeError, match="boom"):
        releaf("--debug", "feed", "list")
