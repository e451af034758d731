"""The extension's own settings: a TOML file and ``ECSQUERY_*`` environment variables.

osqueryd launches extensions with exactly ``--socket --timeout --interval [--verbose]`` and
its own environment, so everything else comes from here. The file is
``$ECSQUERY_EXTENSION_CONFIG`` or, if that is unset, ``/var/osquery/ecsquery.toml`` when it
exists; environment variables override the file. See ``extension/ecsquery.toml`` for every key.

Every value is checked before anything starts (:func:`check`): a bad one is refused with one
line naming the setting, never a traceback. The file can set the command the extension runs as
root, so it is read only when it is a regular file owned by root or by the user the extension
runs as, and not group- or world-writable (:func:`unsafe_file`).
"""

from __future__ import annotations

import json
import math
import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from ecsquery.errors import EcsqueryError
from ecsquery.extension.files import DEFAULT_MUTED, DEFAULT_PATHS
from ecsquery.extension.model import CAPTURE_ENV_BYTES, CAPTURE_ENV_VARS, ENV_NAME_MAX_CHARS
from ecsquery.extension.sources.eslogger import COMMAND
from ecsquery.extension.window import DEFAULT_MAX_AGE, DEFAULT_MAX_EVENTS

if sys.version_info >= (3, 11):
    import tomllib  # novm (3.11+ only: the else branch serves 3.9)
else:  # the zipapp on a Mac's Python 3.9 carries tomli, tomllib's origin (extension/dist.py)
    import tomli as tomllib

DEFAULT_CONFIG = Path("/var/osquery/ecsquery.toml")
SOURCES = ("osquery", "eslogger", "replay", "auto")
TABLES = ("es_process_events", "process_events", "socket_events")
"""The osqueryd tables the osquery source can poll: the only names put in its SQL
(``socket_events``: OpenBSM connections, :mod:`ecsquery.extension.sources.osquery`)."""
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
RANGES: dict[str, tuple[float, float]] = {
    "poll_interval": (0.05, 3600.0),
    "window_seconds": (1.0, 1e12),
    "window_events": (1, 10_000_000),
    "tree_size": (1, 10_000_000),
    "file_window_events": (1, 10_000_000),
    "capture_env_vars_bytes": (0, 1 << 20),
}
"""Inclusive bounds of the numeric settings (``window_events = 0`` would serve nothing)."""
MAX_CONFIG_BYTES = 1 << 20
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


class ConfigError(EcsqueryError):
    """The extension's configuration file or environment is invalid."""


@dataclass(frozen=True)
class Settings:
    source: str = "osquery"
    """Where events come from: osquery (poll osqueryd), eslogger, or replay (files).

    ``auto``: osquery, unless osqueryd expires events too soon to poll (``expiry.plan``).
    """
    tables: tuple[str, ...] = ("es_process_events",)
    """osqueryd tables to poll (add process_events on OpenBSM Macs, socket_events for network
    events)."""
    poll_interval: float = 2.0
    seed_processes: bool = True
    window_seconds: float = DEFAULT_MAX_AGE
    window_events: int = DEFAULT_MAX_EVENTS
    packs: tuple[str, ...] = ()
    """osquery pack files (``ecsquery render``'s ``osquery/ecsquery.conf``) whose queries the
    window must serve: each query's ``ecsquery.lookback`` ≤ ``window_seconds`` (:func:`check`)."""
    tree_size: int = 16_384
    eslogger_command: tuple[str, ...] = COMMAND
    replay: tuple[str, ...] = ()
    host_name: str = ""
    host_os_type: str = "macos"
    resolve_user_names: bool = True
    log_level: str = ""
    file_events: bool = True
    """Serve ``ecs_file_events`` (eslogger's file events; with the osquery source, osqueryd's
    ``es_process_file_events``, which needs ``--disable_endpointsecurity_fim=false``)."""
    file_paths: tuple[str, ...] = DEFAULT_PATHS
    """Globs of the paths whose file events are kept (``*``: all); ``extension/files.py``."""
    file_mute_processes: tuple[str, ...] = DEFAULT_MUTED
    """Executables (exact absolute paths) whose file events are dropped."""
    file_window_events: int = DEFAULT_MAX_EVENTS
    capture_env_vars: tuple[str, ...] = CAPTURE_ENV_VARS
    """The environment variables kept in ``process.env_vars`` (Elastic Defend's
    ``mac.advanced.capture_env_vars``; comma-separated in the environment variable)."""
    capture_env_vars_bytes: int = CAPTURE_ENV_BYTES
    """The most of them kept per exec, in UTF-8 bytes."""
    extra: Mapping[str, Any] = field(default_factory=dict)


_ENV = {
    "source": "ECSQUERY_SOURCE",
    "tables": "ECSQUERY_TABLES",
    "poll_interval": "ECSQUERY_POLL_INTERVAL",
    "seed_processes": "ECSQUERY_SEED_PROCESSES",
    "window_seconds": "ECSQUERY_WINDOW_SECONDS",
    "window_events": "ECSQUERY_WINDOW_EVENTS",
    "packs": "ECSQUERY_PACKS",
    "tree_size": "ECSQUERY_TREE_SIZE",
    "eslogger_command": "ECSQUERY_ESLOGGER_COMMAND",
    "replay": "ECSQUERY_REPLAY",
    "host_name": "ECSQUERY_HOST_NAME",
    "host_os_type": "ECSQUERY_HOST_OS_TYPE",
    "resolve_user_names": "ECSQUERY_RESOLVE_USER_NAMES",
    "log_level": "ECSQUERY_LOG_LEVEL",
    "file_events": "ECSQUERY_FILE_EVENTS",
    "file_paths": "ECSQUERY_FILE_PATHS",
    "file_mute_processes": "ECSQUERY_FILE_MUTE_PROCESSES",
    "file_window_events": "ECSQUERY_FILE_WINDOW_EVENTS",
    "capture_env_vars": "ECSQUERY_CAPTURE_ENV_VARS",
    "capture_env_vars_bytes": "ECSQUERY_CAPTURE_ENV_VARS_BYTES",
}


def _coerce(name: str, value: Any, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            if isinstance(value, bool):
                return value
            word = str(value).strip().lower()
            if word not in _TRUE + _FALSE:
                raise ValueError(f"expected one of {', '.join(_TRUE + _FALSE[:-1])}")
            return word in _TRUE
        if isinstance(default, tuple):
            if isinstance(value, str):
                sep = " " if name == "eslogger_command" else ","
                sep = os.pathsep if name in ("replay", "packs") else sep
                return tuple(part for part in value.split(sep) if part)
            return tuple(str(v) for v in value)
        if isinstance(default, int):
            return int(value)
        if isinstance(default, float):
            return float(value)
        return str(value)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {name!r}: cannot use {value!r} ({exc})") from exc


def unsafe_file(info: os.stat_result, uid: int | None = None) -> str:
    """Why a config file must not be read (empty when it may).

    osquery's own rule for what it loads (``safePermissions``, osquery/osquery
    ``osquery/filesystem/filesystem.cpp`` at a5b14f63d): the owner is root or the current user
    (``isOwnerRoot() || isOwnerCurrentUser()``), and not world-writable
    (``hasSafePermissions``, ``posix/fileops.cpp``). This file names a command run as root, so
    group-writable is refused as well, and so is anything but a regular file.
    """
    uid = os.getuid() if uid is None else uid
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_uid not in (0, uid):
        return f"owned by uid {info.st_uid}, not by root or by uid {uid}"
    if info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"group- or world-writable (mode {stat.S_IMODE(info.st_mode):o})"
    return ""


def read_config(path: Path) -> str:
    """The config file's text, checked on the opened file itself (no race with a rename)."""
    if str(path) == os.devnull:
        return ""  # ECSQUERY_EXTENSION_CONFIG=/dev/null: no file, environment only
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # a FIFO never blocks the start
    except OSError as exc:
        raise ConfigError(f"{path}: {exc.strerror}") from exc
    try:
        problem = unsafe_file(os.fstat(fd))
        if problem:
            raise ConfigError(f"{path}: refused, {problem} (it can set a command run as root)")
        data = os.read(fd, MAX_CONFIG_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{path}: not UTF-8 ({exc})") from exc


def check(settings: Settings) -> Settings:
    """``settings`` when every value is usable; else :class:`ConfigError` naming the setting."""
    for name, (low, high) in RANGES.items():
        value = getattr(settings, name)
        if not (math.isfinite(value) and low <= value <= high):
            bounds = " to ".join(f"{b:g}" if isinstance(b, float) else str(b) for b in (low, high))
            raise ConfigError(f"setting {name!r}: {value!r} is out of range ({bounds})")
    if settings.source not in SOURCES:
        raise ConfigError(f"source must be one of {', '.join(SOURCES)}, not {settings.source!r}")
    if settings.source == "replay" and not settings.replay:
        raise ConfigError("source 'replay' needs replay = [paths] (or ECSQUERY_REPLAY)")
    unknown = [t for t in settings.tables if t not in TABLES]
    if unknown or not settings.tables:
        raise ConfigError(
            f"setting 'tables': {', '.join(map(repr, unknown)) or 'none given'}"
            f" (each one of {', '.join(TABLES)})"
        )
    if settings.log_level and settings.log_level.upper() not in LOG_LEVELS:
        raise ConfigError(
            f"setting 'log_level': {settings.log_level!r} is not one of {', '.join(LOG_LEVELS)}"
        )
    for name in ("file_paths", "file_mute_processes"):
        bad = [p for p in getattr(settings, name) if not (p.startswith("/") or p == "*")]
        if bad or (name == "file_mute_processes" and "*" in settings.file_mute_processes):
            raise ConfigError(
                f"setting {name!r}: {', '.join(map(repr, bad or ['*']))} is not an absolute path"
                + (" glob (or *)" if name == "file_paths" else "")
            )
    for name in settings.capture_env_vars:
        if not name or "=" in name or len(name) > ENV_NAME_MAX_CHARS:
            raise ConfigError(
                f"setting 'capture_env_vars': {name[:80]!r} is not a variable name (non-empty,"
                f" no '=', at most {ENV_NAME_MAX_CHARS} characters, as Elastic Defend's)"
            )
    command = settings.eslogger_command
    if not command or not os.path.isabs(command[0]):
        raise ConfigError(
            f"setting 'eslogger_command': {command[0] if command else ''!r} is not an absolute"
            " path (a bare name would be looked up in PATH)"
        )
    check_packs(settings)
    return settings


def check_packs(settings: Settings) -> None:
    """Refuse a window shorter than a loaded rule reads: a query asking for ``time >= now -
    lookback`` over a window of fewer seconds would silently miss the oldest events."""
    for path in settings.packs:
        try:
            pack = json.loads(read_config(Path(path)))
        except ValueError as exc:
            raise ConfigError(f"setting 'packs': {path}: not an osquery pack ({exc})") from exc
        queries = pack.get("queries") if isinstance(pack, dict) else None
        if not isinstance(queries, dict):
            raise ConfigError(f"setting 'packs': {path}: not an osquery pack (no queries)")
        for name, query in sorted(queries.items()):
            meta = query.get("ecsquery") if isinstance(query, dict) else None
            lookback = meta.get("lookback") if isinstance(meta, dict) else None
            if isinstance(lookback, int) and lookback > settings.window_seconds:
                raise ConfigError(
                    f"setting 'window_seconds': {settings.window_seconds:g} s is shorter than the"
                    f" {lookback} s lookback of {name!r} in {path}; raise it to at least {lookback}"
                )


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    env = os.environ if env is None else env
    path_text = env.get("ECSQUERY_EXTENSION_CONFIG")
    path = Path(path_text) if path_text else DEFAULT_CONFIG
    values: dict[str, Any] = {}
    if path_text or path.exists():
        text = read_config(path)
        try:
            values = tomllib.loads(text).get("extension", {})
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"{path}: {exc}") from exc
        if not isinstance(values, dict):
            raise ConfigError(f"{path}: [extension] must be a table")
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
    return check(Settings(**chosen, extra=unknown))
