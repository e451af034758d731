"""The extension's side of osquery's Thrift protocol: register, serve ``call``, watch the core.

osqueryd starts the extension, the extension registers its table with the manager socket, the
manager answers with a uuid, and the extension serves ``<socket>.<uuid>``. From then on osqueryd
calls ``ping`` and ``call("table", name, {"action": "columns" | "generate", ...})`` on it.
Built on osquery-python's generated Thrift classes, but not on its singleton ``ExtensionManager``
or its ``start_extension`` (which ``os._exit``s from a thread and cannot be stopped or tested).

``generate`` replies are streamed from pre-encoded rows (:mod:`ecsquery.extension.wire`);
everything else goes through the generated code unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence
from typing import Any, Union

from osquery.extensions import Extension
from osquery.extensions.ttypes import (
    ExtensionResponse,
    ExtensionStatus,
    InternalExtensionInfo,
)
from thrift.Thrift import TApplicationException, TMessageType
from thrift.transport import TSocket, TTransport

from ecsquery import __version__
from ecsquery.extension.client import connect
from ecsquery.extension.table import EcsProcessTable
from ecsquery.extension.wire import serve_client

log = logging.getLogger(__name__)

SDK_VERSION = "5.0.0"
MIN_SDK_VERSION = "1.8.0"
CLIENT_TIMEOUT = 5.0
"""Seconds a connection may sit idle mid-read. osqueryd opens a client per call and sends its
request at once (``callExtension``: ``ExtensionClient client(extension_path)``, osquery/osquery
``osquery/extensions/extensions.cpp`` at a5b14f63d), so a client silent this long is stuck or
hostile: its connection is closed."""
MAX_CLIENTS = 16
"""Connections served at once; more are closed on accept (counted), so clients that hold
sockets open cannot make the extension start threads without bound."""
REPLY_GRACE = 2.0
"""Seconds a stopping server waits for the calls in flight (the ``shutdown`` reply) to finish."""


def _ok(response: list[dict[str, str]]) -> ExtensionResponse:
    return ExtensionResponse(status=ExtensionStatus(code=0, message="OK"), response=response)


Tables = Union[EcsProcessTable, Sequence[EcsProcessTable]]  # runtime: 3.9 has no `X | Y`
"""One table plugin, or several (one per served table, ``schema.TABLES``)."""


def by_name(tables: Tables) -> dict[str, EcsProcessTable]:
    listed = [tables] if isinstance(tables, EcsProcessTable) else list(tables)
    return {t.name(): t for t in listed}


class Handler(Extension.Iface):  # type: ignore[misc]
    """``ping``/``call``/``shutdown`` for the tables (the non-streamed paths)."""

    def __init__(self, table: Tables, on_shutdown: Any) -> None:
        self.tables = by_name(table)
        self.table = next(iter(self.tables.values()))
        self.on_shutdown = on_shutdown

    def ping(self) -> ExtensionStatus:
        return ExtensionStatus(code=0, message="OK")

    def call(self, registry: str, item: str, request: dict[str, str]) -> ExtensionResponse:
        table = self.tables.get(item) if registry == "table" else None
        if table is None:
            message = f"no {registry} plugin named {item!r} in this extension"
            return ExtensionResponse(status=ExtensionStatus(code=1, message=message), response=[])
        action = request.get("action")
        if action == "columns":
            return _ok(table.routes())
        if action == "generate":
            return _ok(table.generate(request.get("context")))
        message = f"unknown table action {action!r}"
        return ExtensionResponse(status=ExtensionStatus(code=1, message=message), response=[])

    def shutdown(self) -> ExtensionStatus:
        self.on_shutdown("osqueryd asked the extension to shut down")
        return ExtensionStatus(code=0, message="OK")


class Processor(Extension.Processor):  # type: ignore[misc]
    """The generated processor, with ``generate`` replies streamed instead of built."""

    def __init__(self, handler: Handler) -> None:
        super().__init__(handler)
        self.handler = handler
        self._processMap["call"] = Processor.process_call

    def process_call(self, seqid: int, iprot: Any, oprot: Any) -> None:
        args = Extension.call_args()
        args.read(iprot)
        iprot.readMessageEnd()
        request = args.request or {}
        table = self.handler.tables.get(args.item)
        if args.registry == "table" and table is not None and request.get("action") == "generate":
            table.write_reply(oprot, seqid, request.get("context"))
            return
        result: Any = Extension.call_result()
        try:
            result.success = self.handler.call(args.registry, args.item, request)
            msg_type = TMessageType.REPLY
        except Exception:
            log.exception("call(%s, %s) failed", args.registry, args.item)
            msg_type = TMessageType.EXCEPTION
            result = TApplicationException(TApplicationException.INTERNAL_ERROR, "Internal error")
        oprot.writeMessageBegin("call", msg_type, seqid)
        result.write(oprot)
        oprot.writeMessageEnd()
        oprot.trans.flush()


class ExtensionServer:
    """Registers with the manager at ``manager_socket`` and serves until stopped."""

    def __init__(
        self,
        table: Tables,
        manager_socket: str,
        *,
        name: str = "ecsquery",
        timeout: float = 3.0,
        interval: float = 3.0,
        client_timeout: float = CLIENT_TIMEOUT,
        max_clients: int = MAX_CLIENTS,
    ) -> None:
        self.tables = by_name(table)
        self.table = next(iter(self.tables.values()))
        self.manager_socket = manager_socket
        self.name = name
        self.timeout = max(timeout, 0.2)
        self.interval = max(interval, 0.1)
        self.uuid: int | None = None
        self.stopped = threading.Event()
        self.stop_reason = ""
        self.client_timeout = client_timeout
        self.refused = 0
        """Connections closed on accept because :data:`MAX_CLIENTS` were being served."""
        self.max_clients = max_clients
        self._slots = threading.BoundedSemaphore(max_clients)
        self._threads: list[threading.Thread] = []
        self.processor = Processor(Handler(table, self.stop))
        self._listener: TSocket.TServerSocket | None = None

    @property
    def path(self) -> str:
        return f"{self.manager_socket}.{self.uuid}"

    def registry(self) -> dict[str, dict[str, list[dict[str, str]]]]:
        return {"table": {name: t.routes() for name, t in self.tables.items()}}

    def register(self) -> int:
        """Register the table, retrying until ``timeout`` while osqueryd comes up."""
        info = InternalExtensionInfo(
            name=self.name,
            version=__version__,
            sdk_version=SDK_VERSION,
            min_sdk_version=MIN_SDK_VERSION,
        )
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                with connect(self.manager_socket, self.timeout) as manager:
                    status = manager.registerExtension(info, self.registry())
                break
            except (TTransport.TTransportException, OSError) as exc:
                if time.monotonic() >= deadline:
                    raise ConnectionError(f"{self.manager_socket}: {exc}") from exc
                time.sleep(0.2)
        if status.code != 0:
            raise ConnectionError(f"registration refused: {status.message}")
        self.uuid = int(status.uuid)
        log.info("registered %s as extension %s", ", ".join(self.tables), self.uuid)
        return self.uuid

    def listen(self) -> None:
        listener = TSocket.TServerSocket(unix_socket=self.path)
        listener.listen()
        listener.handle.settimeout(0.25)  # so serve() notices stop() promptly
        self._listener = listener

    def serve(self) -> None:
        """Accept connections until stopped, each answered on its own thread.

        osquery-python's TSimpleServer answers one connection at a time: one client that
        connects and sends nothing blocked every ``generate`` for its whole timeout. Here a
        client only ever holds its own thread, for at most ``client_timeout`` of silence.
        """
        if self._listener is None:
            self.listen()
        assert self._listener is not None
        while not self.stopped.is_set():
            try:
                conn, _ = self._listener.handle.accept()
            except socket.timeout:  # not yet TimeoutError on a Mac's Python 3.9
                continue
            except OSError:
                if self.stopped.is_set():
                    break
                raise
            if not self._slots.acquire(blocking=False):
                self.refused += 1
                if self.refused == 1 or self.refused % 1000 == 0:
                    log.warning(
                        "%d clients connected: closed a new one (%d so far)",
                        self.max_clients,
                        self.refused,
                    )
                conn.close()
                continue
            conn.settimeout(self.client_timeout)
            thread = threading.Thread(
                target=self._client, args=(conn,), name="ecsquery-client", daemon=True
            )
            thread.start()
            self._threads = [t for t in self._threads if t.is_alive()] + [thread]
        self.close()
        # The call that stopped us (osqueryd's ``shutdown``) is still writing its reply: let
        # the calls in flight finish (bounded), or the process exits with the reply unsent.
        deadline = time.monotonic() + REPLY_GRACE
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))

    def _client(self, conn: Any) -> None:
        try:
            serve_client(conn, self.processor, self.stopped, 1 << 16)
        finally:
            self._slots.release()

    def stop(self, reason: str = "stopped") -> None:
        if not self.stopped.is_set():
            self.stop_reason = reason
            log.info("stopping: %s", reason)
            self.stopped.set()

    def close(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        if self.uuid is not None:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.path)
