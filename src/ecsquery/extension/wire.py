"""Rows kept as Thrift-encoded strings, and a ``generate`` reply streamed from them.

A 50k-event window is about 2M strings on the wire. osquery-python's generated code writes
them one ``writeString`` at a time in pure Python (≈1.5 s here), and Thrift's C accelerator
cannot be used from a zipapp (nor with osquery-python's old generated specs, see
:func:`protocol_factory`). So each row value is encoded once, when the event arrives, and a
``generate`` reply is the list header followed by joined bytes, flushed to the socket in chunks
so the reply never sits whole in memory.
"""

from __future__ import annotations

import itertools
import logging
import re
import struct
import threading
from collections.abc import Iterable, Sequence
from typing import Any

from osquery.extensions.ttypes import ExtensionStatus
from thrift.protocol import TBinaryProtocol
from thrift.Thrift import TMessageType, TType
from thrift.transport import TSocket, TTransport

log = logging.getLogger(__name__)

_LEN = struct.Struct(">i")
_MAP_HEADER = struct.Struct(">bbi")
_CHUNK = 1 << 20  # flush every ~1 MB
_SHORT = 4096
_PREFIXES = tuple(_LEN.pack(n) for n in range(_SHORT))
"""The length prefix of each short string, made once (packing it was a third of :func:`encode`)."""


_SURROGATE = re.compile("[\ud800-\udfff]")
STRING_LIMIT = 16 << 20
"""Longest string read off a socket (bytes): a ``cmdline`` or ``env`` is under macOS's 1 MiB
``ARG_MAX``; a larger length prefix is a malformed message, refused before it is read."""
CONTAINER_LIMIT = 1 << 22
"""Most elements in one list or map read off a socket (Thrift's C codec preallocates them)."""


def text(data: bytes) -> str:
    """Bytes from the Mac as text: each invalid UTF-8 sequence becomes U+FFFD.

    The one rule for bytes that are not UTF-8 (argv, paths: any process can exec with them).
    It is what Elastic's side does with them: Elasticsearch refuses invalid UTF-8 in a JSON body
    (so Elastic Defend cannot send the raw bytes), Elastic's Go shippers coerce strings to
    valid UTF-8 with U+FFFD (golang/go ``src/encoding/json/encode.go``, ``Marshal``: "coerced to
    valid UTF-8, replacing invalid bytes with the Unicode replacement rune"), and it is what
    Thrift's own C codec does with a non-UTF-8 string (``errors="replace"``), so the zipapp's
    pure-Python protocol and a venv's C codec read the same row alike.
    """
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("utf-8", "replace")


def encodable(value: str) -> str:
    """``value`` with every lone surrogate (a JSON ``"\\ud800"`` escape) as U+FFFD.

    Elasticsearch keeps such a string as U+FFFD too: Lucene's ``UnicodeUtil.UTF16toUTF8``
    replaces "unpaired surrogate[s] ... with substitution character" 0xFFFD (apache/lucene
    ``lucene/core/src/java/org/apache/lucene/util/UnicodeUtil.java``, commit 0365857687), and the
    alert reader reads them the same way (``ecsquery.rows.json_loads``).
    """
    return _SURROGATE.sub("\ufffd", value)


def encode(value: str) -> bytes:
    """One string as Thrift binary writes it: 4-byte big-endian length, then UTF-8.

    Never raises: a lone surrogate is written as U+FFFD (:func:`encodable`).
    """
    try:
        data = value.encode()
    except UnicodeEncodeError:
        data = encodable(value).encode()
    size = len(data)
    return (_PREFIXES[size] if size < _SHORT else _LEN.pack(size)) + data


def decode(wire: bytes) -> str:
    return text(wire[4:])


MAX_INTERNED = 512
"""Longer values are encoded afresh each time: the cache holds at most ~8 MiB of values."""


class Interner:
    """Shares the bytes of values that repeat (paths, names, flags) across rows.

    Bounded: when full it starts over, which only costs sharing, never correctness.
    """

    def __init__(self, max_size: int = 16_384) -> None:
        self.max_size = max_size
        self._cache: dict[str, bytes] = {}

    def __call__(self, value: str) -> bytes:
        wire = self._cache.get(value)
        if wire is None:
            if len(value) > MAX_INTERNED:  # bounded by bytes too: a 256 KiB argv is not kept
                return encode(value)
            if len(self._cache) >= self.max_size:
                self._cache.clear()
            wire = self._cache[value] = encode(value)
        return wire


def map_bytes(keys: Sequence[bytes], values: Sequence[bytes]) -> bytes:
    """A ``map<string,string>`` body: header, then key/value pairs."""
    header = _MAP_HEADER.pack(TType.STRING, TType.STRING, len(keys))
    return header + b"".join(itertools.chain.from_iterable(zip(keys, values)))


def write_generate_reply(
    oprot: Any, seqid: int, keys: Sequence[bytes], rows: Iterable[Sequence[bytes]], count: int
) -> None:
    """Write a successful ``call`` reply whose response is ``count`` rows of ``keys``.

    Byte-for-byte what the generated ``call_result.write`` produces for the same rows (a test
    checks this), except that the rows are streamed.
    """
    oprot.writeMessageBegin("call", TMessageType.REPLY, seqid)
    oprot.writeStructBegin("call_result")
    oprot.writeFieldBegin("success", TType.STRUCT, 0)
    oprot.writeStructBegin("ExtensionResponse")
    oprot.writeFieldBegin("status", TType.STRUCT, 1)
    ExtensionStatus(code=0, message="OK").write(oprot)
    oprot.writeFieldEnd()
    oprot.writeFieldBegin("response", TType.LIST, 2)
    oprot.writeListBegin(TType.MAP, count)
    header = _MAP_HEADER.pack(TType.STRING, TType.STRING, len(keys))
    chain = itertools.chain.from_iterable
    buffered = 0
    written = 0
    for values in rows:
        body = header + b"".join(chain(zip(keys, values)))
        oprot.trans.write(body)
        written += 1
        buffered += len(body)
        if buffered >= _CHUNK:
            oprot.trans.flush()
            buffered = 0
    if written != count:
        raise ValueError(f"promised {count} rows, wrote {written}")
    oprot.writeListEnd()
    oprot.writeFieldEnd()
    oprot.writeFieldStop()
    oprot.writeStructEnd()
    oprot.writeFieldEnd()
    oprot.writeFieldStop()
    oprot.writeStructEnd()
    oprot.writeMessageEnd()
    oprot.trans.flush()


def _fix_args(ttype: int, args: Any) -> Any:
    if ttype == TType.STRUCT:
        return [args[0], _fix_spec(args[1])]
    if ttype in (TType.LIST, TType.SET):
        return (args[0], _fix_args(args[0], args[1]), *args[2:])
    if ttype == TType.MAP:
        return (
            args[0],
            _fix_args(args[0], args[1]),
            args[2],
            _fix_args(args[2], args[3]),
            *args[4:],
        )
    return args


_FIXED: dict[int, tuple[Any, ...]] = {}


def _fix_spec(spec: Any) -> Any:
    """A generated ``thrift_spec`` with every struct type-argument as a list (cached)."""
    fixed = _FIXED.get(id(spec))
    if fixed is None:
        fixed = tuple(
            None if field is None else (*field[:3], _fix_args(field[1], field[3]), *field[4:])
            for field in spec
        )
        _FIXED[id(spec)] = fixed
    return fixed


class _Protocol(TBinaryProtocol.TBinaryProtocol):  # type: ignore[misc]
    """Thrift's pure-Python binary protocol (the zipapp's), reading strings as :func:`text`.

    Stock ``readString`` is ``readBinary().decode('utf-8')``: one process whose argv holds a
    byte that is not UTF-8 made every osquery-source poll raise, and the cursor never passed
    that row. Strings are read as :func:`text` instead, the way the C codec reads them.
    """

    def readString(self) -> str:
        return text(self.readBinary())


class _AcceleratedProtocol(TBinaryProtocol.TBinaryProtocolAccelerated):  # type: ignore[misc]
    """Thrift's C codec, adapted to osquery-python's generated code.

    That code passes struct type-arguments as ``(class, spec)`` tuples; thrift ≥ 0.14's
    ``fastbinary`` wants ``[class, spec]`` lists (at every nesting level) and raises
    ``TypeError`` otherwise, so the accelerated protocol is unusable as shipped.
    """

    def __init__(self, trans: Any, **kwargs: Any) -> None:
        super().__init__(trans, **kwargs)
        encode_fn: Any = getattr(self, "_fast_encode", None)
        decode_fn: Any = getattr(self, "_fast_decode", None)
        if encode_fn is not None and decode_fn is not None:
            self._fast_encode = lambda obj, spec: encode_fn(obj, _fix_args(TType.STRUCT, spec))
            self._fast_decode = lambda obj, prot, spec: decode_fn(
                obj, prot, _fix_args(TType.STRUCT, spec)
            )

    def readString(self) -> str:
        return text(self.readBinary())


class _Factory:
    """Protocols that refuse what no osquery peer sends: messages without the version word
    (``strictRead``; osquery's C++ and Python clients write it), strings over
    :data:`STRING_LIMIT`, containers over :data:`CONTAINER_LIMIT`, negative sizes."""

    def __init__(self, protocol: Any) -> None:
        self.protocol = protocol

    def getProtocol(self, trans: Any) -> Any:  # Thrift's protocol-factory API
        return self.protocol(
            trans,
            strictRead=True,
            string_length_limit=STRING_LIMIT,
            container_length_limit=CONTAINER_LIMIT,
        )


def protocol_factory() -> Any:
    """Thrift's C-accelerated binary protocol when importable (a venv), else pure Python."""
    try:
        from thrift.protocol import fastbinary  # noqa: F401
    except ImportError:
        return _Factory(_Protocol)
    return _Factory(_AcceleratedProtocol)


def serve_client(
    conn: Any, processor: Any, stopped: threading.Event, buffer_size: int = 4096
) -> None:
    """Answer one Thrift client on an accepted socket until it hangs up or ``stopped`` is set.

    Shared by the extension (osqueryd calling us) and the osqueryd stand-in (the extension
    calling it): a client leaving mid-call (transport error, EOF) is its normal way to go, and
    a malformed message (bad version, unknown type, negative size, too deep) ends only its
    own connection, never the server.
    """
    sock = TSocket.TSocket()
    sock.setHandle(conn)
    trans = TTransport.TBufferedTransport(sock, buffer_size)
    prot = protocol_factory().getProtocol(trans)
    try:
        while not stopped.is_set():
            processor.process(prot, prot)
    except (TTransport.TTransportException, OSError, EOFError):
        pass
    except Exception as exc:  # one client's bytes never stop the server
        log.warning("dropped a Thrift client after a malformed message: %r", exc)
    finally:
        trans.close()
