"""Measuring a child process (wall time, peak RSS and CPU time from `wait4`, and with
`tree` each process under it, `benchmarks.proctree`), the load average, and the progress
log on stderr."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks.conditions import REPO
from benchmarks.proctree import TreePeaks


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


@dataclass
class Measured:
    """One child process: how long it took, its peak RSS and CPU time, what it printed."""

    wall_seconds: float
    max_rss_mib: float
    cpu_seconds: float
    returncode: int
    stdout: str
    stderr: str
    processes: dict[str, Any] | None = None
    """With `tree`: the processes under the command by role, each role's peak RSS."""

    def summary(self) -> dict[str, Any]:
        return {
            "wall_seconds": round(self.wall_seconds, 3),
            "peak_rss_mib": round(self.max_rss_mib, 1),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "cpu_utilisation": round(self.cpu_seconds / self.wall_seconds, 2)
            if self.wall_seconds
            else None,
        }


def measure(
    cmd: Sequence[str], env: dict[str, str], *, check: bool = True, tree: bool = False
) -> Measured:
    """Run `cmd` to completion; wall time, and peak RSS and CPU time from `wait4` (the
    largest peak of the command and the descendants it waited for, CPU time added up);
    with `tree`, each process under it sampled while it runs."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        began = time.perf_counter()
        proc = subprocess.Popen(list(cmd), env=env, cwd=REPO, stdout=out, stderr=err)
        sampler = TreePeaks(proc.pid).start() if tree else None
        _pid, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - began
        if sampler is not None:
            sampler.stop()
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        result = Measured(
            wall_seconds=wall,
            # Linux reports ru_maxrss in KiB.
            max_rss_mib=usage.ru_maxrss / 1024,
            cpu_seconds=usage.ru_utime + usage.ru_stime,
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
            processes=sampler.by_role() if sampler is not None else None,
        )
    if check and result.returncode != 0:
        raise RuntimeError(
            f"{' '.join(cmd)} exited {result.returncode}:\n{result.stderr[-3000:]}"
            f"\n{result.stdout[-2000:]}"
        )
    return result


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []
