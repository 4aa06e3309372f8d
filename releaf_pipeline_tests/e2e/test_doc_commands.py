"""Every command the docs show is a command `releaf` (or make, or dg) has, with the options
shown; and the ones that read without changing anything are run for real on a home with
the bundled simulator registered. A command renamed, an option dropped or a target gone
fails here, so the docs cannot drift from the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")), REPO / "benchmarks/README.md"]
BIN = Path(sys.executable).parent
# `releaf ...` in a code span or at the start of a line of a shell block.
SHOWN = re.compile(
    r"`((?:\.venv/bin/)?(?:releaf|dg|make) [^`]+)`"
    r"|^\s*((?:\.venv/bin/)?(?:releaf|dg|make) [^#\n]+)",
    re.M,
)
# Words of a command that stand for what the reader chooses, or alternatives written a|b.
PLACEHOLDER = re.compile(r"^[A-Z][A-Z0-9_./-]*$|\||^\.\.\.$|^\[|^\(")
# Read-only commands run for real once a server and a feed are registered.
RUN = {
    ("server", "list"), ("feed", "list"), ("alerts", "list"), ("db", "check"),
    ("secrets", "new-key"), ("certificates", "list"),
}  # fmt: skip


def _shown() -> dict[str, list[str]]:
    """Every command the docs show, with the files that show it."""
    found: dict[str, list[str]] = {}
    for doc in DOCS:
        for m in SHOWN.finditer(doc.read_text(encoding="utf-8")):
            line = " ".join((m.group(1) or m.group(2)).replace("\\|", "|").split())
            found.setdefault(line.removeprefix(".venv/bin/"), []).append(doc.name)
    return found


def _path(words: list[str]) -> list[str]:
    """The command's group and subcommand: the words before the first option or argument
    the reader fills in."""
    out = []
    for w in words[1:]:
        if w.startswith("-") or PLACEHOLDER.search(w) or not re.fullmatch(r"[a-z][a-z-]*", w):
            break
        out.append(w)
    return out[:2]


def _required(command: str) -> str:
    """The command without its optional parts (`[--json]`, `[--month YYYY-MM]`)."""
    while (shorter := re.sub(r"\[[^\[\]]*\]", "", command)) != command:
        command = shorter
    return command


@cache
def _help(path: tuple[str, ...]) -> str:
    r = subprocess.run(
        [str(BIN / "releaf"), *path, "--help"], capture_output=True, text=True, timeout=120
    )
    assert r.returncode == 0, f"`releaf {' '.join(path)}` is not a command: {r.stderr}"
    return r.stdout


def test_the_docs_show_commands() -> None:
    shown = _shown()
    assert any(c.startswith("releaf feed add --server") for c in shown)
    assert "make test" in " ".join(shown)


def test_every_releaf_command_shown_exists_with_its_options() -> None:
    problems = []
    for command, where in _shown().items():
        words = command.split()
        if words[0] != "releaf":
            continue
        path = _path(words)
        if path and path[-1] in ("add|import|pause|resume|remove|update",):
            continue
        help_text = _help(tuple(path))
        for option in re.findall(r"--[a-z][a-z-]*", command):
            if option not in help_text and option != "--help":
                problems.append(f"{command} ({', '.join(where)}): {option} is not an option")
    assert problems == []


def test_every_make_target_and_dg_command_shown_exists() -> None:
    makefile = (REPO / "Makefile").read_text(encoding="utf-8")
    targets = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    for command in _shown():
        words = command.split()
        if words[0] == "make":
            assert words[1] in targets, f"`{command}`: no such make target"
        elif words[0] == "dg":
            path = [w for w in words[1:3] if not w.startswith("-")]
            r = subprocess.run(
                [str(BIN / "dg"), *path, "--help"], capture_output=True, text=True, timeout=120
            )
            assert r.returncode == 0, f"`{command}`: {r.stderr[-500:]}"


def test_the_read_only_commands_shown_run(home: Path, sim, tmp_path: Path) -> None:
    env = {**os.environ, "DAGSTER_HOME": str(home), "RELEAF_DEALER_TOKEN": sim.token}

    def releaf(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(BIN / "releaf"), *args], cwd=REPO, env=env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    add = releaf("server", "add", "east", "--url", sim.url, "--ca-bundle", str(sim.ca_bundle))
    assert add.returncode == 0, add.stderr
    code = sim.fleet.customer_codes[0]
    feed = releaf(
        "feed", "add", "--server", "east", "--customer-code", code, "--account", "acct-a",
        "--activation-date", "2026-09-01", "--scope", "all",
    )  # fmt: skip
    assert feed.returncode == 0, feed.stderr
    ran = set()
    for command in _shown():
        words = command.split()
        path = tuple(_path(words))
        if words[0] != "releaf" or path not in RUN:
            continue
        args = [w for w in _required(command).split()[1:] if not PLACEHOLDER.search(w)]
        r = releaf(*args)
        assert r.returncode == 0, f"`{command}` failed: {r.stderr}"
        ran.add(path)
    assert ran == RUN, f"the docs no longer show {sorted(RUN - ran)}"
