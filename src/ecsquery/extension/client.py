"""Thrift clients to osqueryd's extension manager socket (or to an extension's socket)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from osquery.extensions import ExtensionManager
from thrift.transport import TSocket, TTransport

from ecsquery.extension.wire import protocol_factory


class Connection:
    """One open connection; ``client`` is osquery-python's generated ExtensionManager client."""

    def __init__(self, path: str, timeout: float = 10.0) -> None:
        sock = TSocket.TSocket(unix_socket=path)
        sock.setTimeout(int(timeout * 1000))
        self.transport = TTransport.TBufferedTransport(sock, 1 << 16)
        self.client: Any = ExtensionManager.Client(protocol_factory().getProtocol(self.transport))
        self.transport.open()

    def close(self) -> None:
        self.transport.close()


@contextmanager
def connect(path: str, timeout: float = 10.0) -> Iterator[Any]:
    """A client for one exchange, closed afterwards (as osqueryd itself connects per call)."""
    conn = Connection(path, timeout)
    try:
        yield conn.client
    finally:
        conn.close()


def osquery_version(path: str, timeout: float) -> str:
    """The running osqueryd's version (``osquery_info``), asked over the manager socket."""
    with connect(path, timeout) as manager:
        reply = manager.query("SELECT version FROM osquery_info")
    if reply.status is not None and reply.status.code != 0:
        raise ConnectionError(reply.status.message)
    rows = list(reply.response or [])
    if not rows or not rows[0].get("version"):
        raise ConnectionError("osquery_info has no version")
    return str(rows[0]["version"])
