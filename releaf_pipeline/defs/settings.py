"""Settings read when the code location loads: schedule and sensor timing.

Everything else is read by resources at run time.
"""

import os

from releaf_pipeline.lib.catchup import DEFAULT_LOOKBACK_DAYS


def env_str(name: str, default: str) -> str:
    """A text setting from the environment."""
    return os.environ.get(name, "").strip() or default


def int_env(name: str, default: int) -> int:
    """A whole-number setting from the environment."""
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise ValueError(f"{name} must be a whole number, got {raw!r}") from None


NIGHTLY_CRON = os.environ.get("RELEAF_NIGHTLY_CRON", "").strip() or "0 2 * * *"
HEALTH_CHECK_SECONDS = int_env("RELEAF_HEALTH_CHECK_SECONDS", 300)
CATCHUP_SECONDS = int_env("RELEAF_CATCHUP_SECONDS", 120)
CATCHUP_LOOKBACK_DAYS = int_env("RELEAF_CATCHUP_LOOKBACK_DAYS", DEFAULT_LOOKBACK_DAYS)
CONCURRENCY_PER_SERVER = int_env("RELEAF_CONCURRENCY_PER_SERVER", 16)
