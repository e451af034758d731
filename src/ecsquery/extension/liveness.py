"""Watch osqueryd the way osquery's own extension SDK does, and say when to exit.

osquery's C++ SDK runs an ``ExtensionWatcher`` in every extension (``osquery/extensions/
extensions.cpp`` lines 257-301 at a5b14f63d): every ``--interval`` seconds (at least 200 ms,
line 216) it asks the manager for its registered extensions (``getExtensions``); if the manager
socket is gone or the call fails, "osquery core has gone away" and the extension exits 0; if the
call works but the extension's uuid is no longer in the list, "Extension not registered with
osquery core" and it exits 1; an extension that has no uuid (it never registered) only pings
the manager (lines 279-287). Either way osqueryd's watcher then starts a fresh one. Its clients
wait ``--thrift_timeout`` seconds for an answer (300 by default, ``impl_thrift.cpp`` line 44 and
lines 441-451), so a manager that is merely busy never looks dead. (osquery-python's watcher only
pings, with no timeout at all, and exits 1 on any failure.)
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import NamedTuple

from ecsquery.extension.client import connect

log = logging.getLogger(__name__)

THRIFT_TIMEOUT = 300.0
"""osquery's ``--thrift_timeout`` default, seconds: how long its own clients wait for a reply."""
MIN_INTERVAL = 0.2
"""``ExtensionWatcher``'s floor on the interval between checks, seconds."""


class Exit(NamedTuple):
    """Why the extension should stop, and the exit status osquery's SDK uses for it."""

    reason: str
    status: int


def check(manager_socket: str, uuid: int | None, timeout: float = THRIFT_TIMEOUT) -> Exit | None:
    """One look at the manager, as ``ExtensionWatcher::watch``: None while all is well (still
    registered as ``uuid``; or, with no uuid, the manager answers ``ping``)."""
    if not os.path.exists(manager_socket):
        return Exit("osquery core has gone away (manager socket removed)", 0)
    try:
        with connect(manager_socket, timeout) as manager:
            if uuid is None:
                status = manager.ping()
                if status is not None and status.code != 0:
                    return Exit(f"ping failed: {status.message}", 1)
                return None
            registered = manager.extensions()
    except Exception as exc:
        return Exit(f"osquery core has gone away ({exc})", 0)
    if uuid not in (registered or {}):
        return Exit(f"extension {uuid} not registered with osquery core", 1)
    return None


def idle_while_core_answers(
    manager_socket: str, interval: float, timeout: float = THRIFT_TIMEOUT
) -> Exit:
    """Return once osqueryd's manager at ``manager_socket`` stops answering ``ping``.

    For an extension that must not run (a refused setting): osqueryd's watcher respawns an
    extension whose process exits (``WatcherRunner::watchExtensions``, osquery/osquery
    ``osquery/core/watcher.cpp`` at a5b14f63d), so exiting would log the same error every few
    seconds. Staying alive, unregistered, logs it once; the process still ends with osqueryd,
    found the way the SDK's watcher of an unregistered extension finds it (:func:`check`).
    """
    while True:
        verdict = check(manager_socket, None, timeout)
        if verdict is not None:
            return verdict
        time.sleep(max(interval, MIN_INTERVAL))


def watch(
    manager_socket: str,
    uuid: int,
    interval: float,
    stopped: threading.Event,
    on_exit: Callable[[Exit], None],
    timeout: float = THRIFT_TIMEOUT,
) -> threading.Thread:
    """Check every ``interval`` seconds on a daemon thread until ``stopped``; report one Exit."""

    def loop() -> None:
        while not stopped.wait(max(interval, MIN_INTERVAL)):
            verdict = check(manager_socket, uuid, timeout)
            if verdict is not None:
                log.log(logging.ERROR if verdict.status else logging.INFO, "%s", verdict.reason)
                on_exit(verdict)
                return

    thread = threading.Thread(target=loop, name="ecsquery-watcher", daemon=True)
    thread.start()
    return thread
