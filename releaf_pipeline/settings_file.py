"""The home's settings file, `$DAGSTER_HOME/releaf.env`: RELEAF_* variables every process
started on the home reads below its own environment."""

from __future__ import annotations

import io
import os
from collections.abc import Collection, Mapping
from pathlib import Path

from dotenv.parser import parse_stream

from releaf_pipeline.lib.errors import ReleafError

DEFAULT_HOME = ".releaf"
SETTINGS_FILE = "releaf.env"


class SettingsError(ReleafError, ValueError):
    """A setting has a value the pipeline cannot use; the message names the variable."""


def debug_requested(env: Mapping[str, str] | None = None) -> bool:
    """Whether `RELEAF_DEBUG` asks for tracebacks; read on its own, so that a command
    whose other settings are wrong can still say so."""
    env = os.environ if env is None else env
    return env.get("RELEAF_DEBUG", "").strip().lower() in {"1", "true", "yes"}


def home_of(env: Mapping[str, str]) -> Path:
    """The home `env` names (`DAGSTER_HOME`, else `./.releaf`), as an absolute path."""
    return Path(env.get("DAGSTER_HOME", "").strip() or Path.cwd() / DEFAULT_HOME).resolve()


def settings_file(home: Path) -> Path:
    """Where the home keeps its own settings."""
    return home / SETTINGS_FILE


def read_settings_file(path: Path, names: Collection[str]) -> dict[str, str]:
    """The variables a settings file sets ({} when there is none); `names` are those it may.

    Lines are KEY=VALUE, as a shell or a .env file writes them (quotes, `export` and `#`
    comments allowed). Anything else, or a name that is not a setting, is refused with
    the file and line, so that a typo never goes silently unused."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise SettingsError(f"{path} cannot be read ({exc}): fix or remove it") from None
    values: dict[str, str] = {}
    for binding in parse_stream(io.StringIO(text)):
        line = binding.original.line
        if binding.error or (binding.key is not None and binding.value is None):
            raise SettingsError(f"{path} line {line}: write it as RELEAF_NAME=VALUE")
        if binding.key is None:
            continue  # a blank line or a comment
        if binding.key not in names:
            raise SettingsError(
                f"{path} line {line}: {binding.key} is not a setting it may hold: the "
                "names are those of the settings table but DAGSTER_HOME and RELEAF_DEBUG"
            )
        values[binding.key] = binding.value or ""
    return values


def write_setting_line(home: Path, name: str, value: str) -> Path:
    """Set `name` to `value` in the home's settings file, keeping its other lines."""
    path = settings_file(home)
    kept = [
        b.original.string
        for b in parse_stream(
            io.StringIO(path.read_text(encoding="utf-8") if path.exists() else "")
        )
        if b.key != name
    ]
    text = "".join(kept)
    if text and not text.endswith("\n"):
        text += "\n"
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{text}{name}={value}\n", encoding="utf-8")
    return path
