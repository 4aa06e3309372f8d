"""The processes under a command while it runs, each one's peak resident memory and CPU
time, and what each is (the command, the code server, the run, a step's worker).

Linux keeps each process's peak RSS as `VmHWM` in /proc/PID/status and its CPU time in
/proc/PID/stat; a thread reads them for every process in the command's tree every 100 ms,
so a process that lives longer than that is seen, with its peak and CPU time up to its
last sample. (`wait4` of the command cannot tell them: the run's process is the code
server's child, and the command does not wait for the code server.)
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

INTERVAL_SECONDS = 0.1
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Seen:
    """One process of the tree, as last sampled."""

    pid: int
    parent: int
    cmdline: str
    peak_kib: int
    cpu_seconds: float = 0.0


def _read(pid: int) -> tuple[str, int, float, list[int]] | None:
    """A process's command line, peak RSS (KiB), CPU seconds and children; None once it
    is gone."""
    proc = Path("/proc") / str(pid)
    try:
        cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        # utime and stime, in clock ticks, follow the command name (which may hold spaces).
        fields = (proc / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICKS
        peak = 0
        for line in (proc / "status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak = int(line.split()[1])
                break
        children: list[int] = []
        for task in (proc / "task").iterdir():
            children += [int(c) for c in (task / "children").read_text().split()]
    except (OSError, ValueError):
        return None
    return cmdline.strip(), peak, cpu, children


class TreePeaks:
    """Samples the tree of processes under `pid` until stopped."""

    def __init__(self, pid: int) -> None:
        self.root = pid
        self.seen: dict[int, Seen] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> TreePeaks:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.sample()
            self._stop.wait(INTERVAL_SECONDS)

    def sample(self) -> None:
        todo = [(self.root, 0)]
        while todo:
            pid, parent = todo.pop()
            found = _read(pid)
            if found is None:
                continue
            cmdline, peak, cpu, children = found
            if not cmdline:
                continue  # a process that ended and awaits its parent: as last seen
            known = self.seen.get(pid)
            # A pid reused by a later process starts afresh.
            if known is None or known.cmdline != cmdline:
                known = self.seen[pid] = Seen(pid, parent, cmdline, 0)
            known.peak_kib = max(known.peak_kib, peak)
            known.cpu_seconds = max(known.cpu_seconds, cpu)
            todo += [(c, pid) for c in children]

    def role(self, p: Seen) -> str:
        """What a process of a `releaf collect` tree is, from its command line and parent:
        the code server starts the run's process, and the multiprocess executor a process
        per step under it (both with multiprocessing's spawn)."""
        if p.pid == self.root:
            return "command"
        if "grpc" in p.cmdline or "code-server" in p.cmdline:
            return "code_server"
        if "resource_tracker" in p.cmdline:
            return "resource_tracker"
        if "watch_orphans" in p.cmdline:
            return "compute_log_watcher"
        parent = self.seen.get(p.parent)
        above = self.role(parent) if parent is not None else None
        if "execute_run" in p.cmdline or (
            "multiprocessing" in p.cmdline and above == "code_server"
        ):
            return "run"
        if "multiprocessing" in p.cmdline and above == "run":
            return "step_worker"
        return "other"

    def by_role(self) -> dict[str, Any]:
        """Each role's processes, their largest peak RSS (MiB), their CPU time added up
        and a command line of one of them."""
        out: dict[str, Any] = {}
        for p in self.seen.values():
            role = self.role(p)
            entry = out.setdefault(
                role,
                {"processes": 0, "peak_rss_mib": 0.0, "cpu_seconds": 0.0, "example": p.cmdline},
            )
            entry["processes"] += 1
            entry["peak_rss_mib"] = round(max(entry["peak_rss_mib"], p.peak_kib / 1024), 1)
            entry["cpu_seconds"] = round(entry["cpu_seconds"] + p.cpu_seconds, 2)
        for entry in out.values():
            entry["example"] = entry["example"][:160]
        out["all"] = {
            "processes": len(self.seen),
            "cpu_seconds": round(sum(p.cpu_seconds for p in self.seen.values()), 2),
        }
        return out
