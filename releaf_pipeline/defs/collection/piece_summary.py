"""What one piece of a night did, and the run's total of its pieces."""

import resource
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from releaf_pipeline.lib.store.tables import COLLECTED, FAILED, PAUSED

if TYPE_CHECKING:
    from releaf_pipeline.lib.collector import CollectionReport


@dataclass
class PieceSummary:
    """What one piece did: the run adds them up."""

    feeds_collected: int = 0
    feeds_paused: int = 0
    feeds_failed: int = 0
    readings_changed: int = 0
    requests: int = 0
    retries: int = 0
    seconds: float = 0.0
    """Seconds the pieces took, added up (pieces run side by side take less)."""
    cpu_seconds: float = 0.0
    """CPU time of the processes that collected the pieces, added up."""
    peak_rss_mib: int = 0
    """The largest peak resident memory of a process that collected a piece."""

    @classmethod
    def of(cls, report: "CollectionReport", cpu_seconds: float) -> "PieceSummary":
        """The summary of a piece's collection report, with what its process used."""
        return cls(
            feeds_collected=report.count(COLLECTED),
            feeds_paused=report.count(PAUSED),
            feeds_failed=report.count(FAILED),
            readings_changed=sum(o.readings_changed for o in report.outcomes),
            requests=report.requests,
            retries=report.retries,
            seconds=round(report.seconds, 1),
            cpu_seconds=round(cpu_seconds, 2),
            # Linux reports the peak in KiB.
            peak_rss_mib=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024,
        )

    @classmethod
    def total(cls, pieces: list[dict[str, Any]]) -> "PieceSummary":
        """The run's summary: its pieces' added up, their peak memory the largest."""
        out = cls()
        for piece in pieces:
            for name, value in piece.items():
                if name == "peak_rss_mib":
                    out.peak_rss_mib = max(out.peak_rss_mib, value)
                else:
                    setattr(out, name, getattr(out, name) + value)
        out.seconds = round(out.seconds, 1)
        out.cpu_seconds = round(out.cpu_seconds, 2)
        return out


def cpu_seconds() -> float:
    """CPU time this process has used so far, in seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
