"""`benchmarks.simserver` in a process of its own, and the requests it served between two
of its snapshots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from datetime import date
from pathlib import Path
from typing import Any

from benchmarks.conditions import DEVICES, PYTHON, REPO, SCRUBBED, TOKEN


class SimulatorProcess:
    """`benchmarks.simserver` in a process of its own."""

    def __init__(
        self,
        workdir: Path,
        *,
        customers: int,
        today: date,
        history_start: date,
        history_end: date,
        latency: float,
        devices: int = DEVICES,
        dealer_code: str | None = None,
        seed: int | None = None,
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.ready_file = workdir / "ready.json"
        self.stats_file = workdir / "stats.json"
        env = {k: v for k, v in os.environ.items() if k not in SCRUBBED}
        env["RELEAF_DEALER_TOKEN"] = TOKEN
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
        cmd = [
            PYTHON,
            "-m",
            "benchmarks.simserver",
            f"--customers={customers}",
            f"--devices={devices}",
            f"--today={today}",
            f"--history-start={history_start}",
            f"--history-end={history_end}",
            f"--latency={latency}",
            f"--workdir={workdir / 'sim'}",
            f"--ready-file={self.ready_file}",
            f"--stats-file={self.stats_file}",
        ]
        if dealer_code is not None:
            cmd.append(f"--dealer-code={dealer_code}")
        if seed is not None:
            cmd.append(f"--seed={seed}")
        self._log = (workdir / "simulator.log").open("wb")
        self.proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=self._log, stderr=self._log)
        deadline = time.monotonic() + 300
        while not self.ready_file.exists():
            if self.proc.poll() is not None:
                raise RuntimeError(f"the simulator exited {self.proc.returncode}: see {workdir}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the simulator did not start within 5 minutes")
            time.sleep(0.1)
        info = json.loads(self.ready_file.read_text())
        self.url: str = info["url"]
        self.ca_bundle: str = info["ca_bundle"]
        self.generate_seconds: float = info["generate_seconds"]
        self.codes = Path(info["customer_codes_file"]).read_text().split()
        self._snapshot = 0

    def stats(self) -> dict[str, Any]:
        """Requests served so far (by path) and the simulator's CPU time."""
        self._snapshot += 1
        self.proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                stats = json.loads(self.stats_file.read_text())
                if stats["snapshot"] >= self._snapshot:
                    return stats
            except (OSError, ValueError):
                pass
            time.sleep(0.05)
        raise RuntimeError("the simulator did not report its request count")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> SimulatorProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def stats_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """What the simulator served between two of its `stats()`: requests, by path, CPU."""
    paths = set(before["by_path"]) | set(after["by_path"])
    return {
        "requests": after["requests"] - before["requests"],
        "by_path": {
            p.rsplit("/", 2)[-2] + "/" + p.rsplit("/", 1)[-1]: after["by_path"].get(p, 0)
            - before["by_path"].get(p, 0)
            for p in sorted(paths)
            if after["by_path"].get(p, 0) != before["by_path"].get(p, 0)
        },
        "simulator_cpu_seconds": round(after["cpu_seconds"] - before["cpu_seconds"], 3),
    }
