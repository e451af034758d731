"""argv back from osquery's one-string ``cmdline``, the way the running osquery wrote it.

osquery ≥ 5.10 builds ``es_process_events.cmdline`` by writing every argument followed by one
space, and wraps an argument in C++ ``std::quoted`` (double quotes, ``\\"`` and ``\\\\`` escaped)
when it contains a space or a double quote (``appendQuotedString``, osquery commit 29fe28aa9,
first released in 5.10.0: ``osquery/events/darwin/es_utils.cpp`` lines 165-171 and its call in
``endpointsecurity.cpp`` line 119 at a5b14f63d). Nothing else is escaped, so an unquoted argument
may hold a backslash verbatim, and an empty argument leaves two spaces in a row. That makes the
encoding reversible: at each argument start a ``"`` opens a quoted argument, anything else runs
to the next space.

osquery 5.0-5.9 wrote ``args << s << ' '`` (``endpointsecurity.cpp`` line 196 in 5.0.1, 119 in
5.9.1): every argument and one space, no quoting. :func:`parse_joined` inverts that exactly
unless an argument held a space, which no reader can tell from two arguments; the extension asks
osquery for its version at start (:func:`quotes_cmdline`), rewrites older rows into the quoted
form (:func:`requote_joined`) and counts them as ``reconstructed.args``. OpenBSM
``process_events`` and ``processes`` join arguments the same lossy way; :func:`split_plain` says
so by name.
"""

from __future__ import annotations

import re

QUOTED_SINCE = (5, 10, 0)
"""The first osquery release whose ``es_process_events.cmdline`` quotes arguments."""


def parse_cmdline(cmdline: str) -> list[str]:
    """The argv that osquery ≥ 5.10 encoded into ``cmdline`` (exact for its encoding).

    An unbalanced quote (a truncated or hand-edited line) keeps the rest of the text as the last
    argument rather than failing: a partial argv is more useful to a rule than none.
    """
    if cmdline == " ":
        return [""]  # one empty argument, written as nothing and its space
    if cmdline.endswith(" "):
        cmdline = cmdline[:-1]  # every argument, the last included, is followed by one space
    if not cmdline:
        return []
    args: list[str] = []
    i, n = 0, len(cmdline)
    while True:
        if cmdline.startswith('"', i):
            i, arg = _quoted(cmdline, i + 1)
        else:
            end = cmdline.find(" ", i)
            end = n if end < 0 else end
            arg, i = cmdline[i:end], end
        args.append(arg)
        if i >= n:
            return args
        i += 1  # the one space after each argument
        if i == n:  # a trailing separator after the last argument: an empty last argument
            args.append("")
            return args


def _quoted(text: str, i: int) -> tuple[int, str]:
    """Read a ``std::quoted`` body starting after its opening quote; return (next index, arg)."""
    out: list[str] = []
    n = len(text)
    while i < n:
        ch = text[i]
        if ch == "\\" and i + 1 < n:
            out.append(text[i + 1])
            i += 2
        elif ch == '"':
            return i + 1, "".join(out)
        else:
            out.append(ch)
            i += 1
    return n, "".join(out)


def quote_cmdline(args: list[str] | tuple[str, ...]) -> str:
    """osquery ≥ 5.10's encoding of argv (the inverse of :func:`parse_cmdline`).

    Used to build realistic ``es_process_events`` rows for tests and replays.
    """
    parts = []
    for arg in args:
        if " " in arg or '"' in arg:
            arg = '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
        parts.append(arg + " ")
    return "".join(parts)


def parse_joined(cmdline: str) -> list[str]:
    """The argv that osquery 5.0-5.9 wrote into ``cmdline`` (each argument and one space).

    Exact when no argument held a space (empty arguments included); an argument that did comes
    back as several, as anyone reading that format must get it.
    """
    if not cmdline:
        return []
    if cmdline.endswith(" "):
        cmdline = cmdline[:-1]
    return cmdline.split(" ")


def join_plain(args: list[str] | tuple[str, ...]) -> str:
    """osquery 5.0-5.9's encoding of argv (the inverse of :func:`parse_joined`), for tests."""
    return "".join(arg + " " for arg in args)


def parse_version(text: str) -> tuple[int, ...] | None:
    """``5.9.1`` or ``5.10.0-12-gabcdef`` (a development build) as a tuple; None if unreadable."""
    match = re.match(r"(\d+)\.(\d+)\.(\d+)", text.strip())
    return tuple(int(part) for part in match.groups()) if match else None


def quotes_cmdline(version: str) -> bool:
    """Whether osquery ``version`` quotes ``es_process_events.cmdline`` (unreadable: assume so)."""
    parsed = parse_version(version)
    return parsed is None or parsed >= QUOTED_SINCE


def requote_joined(cmdline: str) -> str:
    """A 5.0-5.9 ``cmdline`` rewritten in 5.10's encoding, so that one parser reads every row.

    The osquery source applies it to rows from an osquery older than :data:`QUOTED_SINCE`.
    """
    return quote_cmdline(parse_joined(cmdline))


def split_plain(cmdline: str) -> list[str]:
    """Best-effort argv from an unquoted, space-joined command line (lossy by nature)."""
    return cmdline.split()
