"""The extension's own settings: a TOML file and ``ECSQUERY_*`` environment variables.

osqueryd launches extensions with exactly ``--socket --timeout --interval [--verbose]`` and
its own environment, so everything else comes from here. The file is
``$ECSQUERY_EXTENSION_CONFIG`` or, if that is unset, ``/var/osquery/ecsquery.toml`` when it
exists; environment variables override the file. See ``extension/ecsquery.toml`` for every key.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ecsquery.errors import EcsqueryError
from ecsquery.extension.sources.eslogger import COMMAND
from ecsquery.extension.window import DEFAULT_MAX_AGE, DEFAULT_MAX_EVENTS

if sys.version_info >= (3, 11):
    import tomllib  # novm (3.11+ only: the else branch serves 3.9)
else:  # the zipapp on a Mac's Python 3.9 carries tomli, tomllib's origin (extension/dist.py)
    import tomli as tomllib

DEFAULT_CONFIG = Path("/var/osquery/ecsquery.toml")
SOURCES = ("osquery", "eslogger", "replay", "auto")


class ConfigError(EcsqueryError):
    """The extension's configuration file or environment is invalid."""


@dataclass(frozen=True)
class Settings:
    source: str = "osquery"
    """Where events come from: osquery (poll osqueryd), eslogger, or replay (files).

    ``auto``: osquery, unless osqueryd expires events too soon to poll (``expiry.plan``).
    """
    tables: tuple[str, ...] = ("es_process_events",)
    """osqueryd tables to poll (add process_events on OpenBSM Macs)."""
    poll_interval: float = 2.0
    seed_processes: bool = True
    window_seconds: float = DEFAULT_MAX_AGE
    window_events: int = DEFAULT_MAX_EVENTS
    tree_size: int = 16_384
    eslogger_command: tuple[str, ...] = COMMAND
    replay: tuple[str, ...] = ()
    host_name: str = ""
    host_os_type: str = "macos"
    resolve_user_names: bool = True
    log_level: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


_ENV = {
    "source": "ECSQUERY_SOURCE",
    "tables": "ECSQUERY_TABLES",
    "poll_interval": "ECSQUERY_POLL_INTERVAL",
    "seed_processes": "ECSQUERY_SEED_PROCESSES",
    "window_seconds": "ECSQUERY_WINDOW_SECONDS",
    "window_events": "ECSQUERY_WINDOW_EVENTS",
    "tree_size": "ECSQUERY_TREE_SIZE",
    "eslogger_command": "ECSQUERY_ESLOGGER_COMMAND",
    "replay": "ECSQUERY_REPLAY",
    "host_name": "ECSQUERY_HOST_NAME",
    "host_os_type": "ECSQUERY_HOST_OS_TYPE",
    "resolve_user_names": "ECSQUERY_RESOLVE_USER_NAMES",
    "log_level": "ECSQUERY_LOG_LEVEL",
}


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
        if isinstance(default, tuple):
            if isinstance(value, str):
                sep = " " if name == "eslogger_command" else ","
                sep = os.pathsep if name == "replay" else sep
                return tuple(part for part in value.split(sep) if part)
            return tuple(str(v) for v in value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc})") from exc


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    path_text = env.get("ECSQUERY_EXTENSION_CONFIG")
    path = Path(path_text) if path_text else DEFAULT_CONFIG
    values: dict[str, Any] = {}
    if path_text or path.exists():
        try:
            values = tomllib.loads(path.read_text(encoding="utf-8")).get("extension", {})
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise ConfigError(f"{path}: {exc}") from exc
    defaults = Settings()
    known = {f.name for f in fields(Settings)} - {"extra"}
    unknown = {k: v for k, v in values.items() if k not in known}
    chosen: dict[str, Any] = {}
    for name in known:
        value = values.get(name)
        if _ENV[name] in env:
            value = env[_ENV[name]]
        if value is not None:
            chosen[name] = _coerce(name, value, getattr(defaults, name))
    settings = Settings(**chosen, extra=unknown)
    if settings.source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, not {settings.source!r}")
    if settings.source == "replay" and not settings.replay:
        raise ConfigError("source 'replay' needs replay = [paths] (or ECSQUERY_REPLAY)")
    return settings
