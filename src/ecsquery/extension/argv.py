"""argv back from osquery's one-string ``cmdline``.

osquery ≥ 5.10 builds ``es_process_events.cmdline`` by writing every argument followed by one
space, and wraps an argument in C++ ``std::quoted`` (double quotes, ``\\"`` and ``\\\\`` escaped)
when it contains a space or a double quote. Nothing else is escaped, so an unquoted argument may
hold a backslash verbatim, and an empty argument leaves two spaces in a row. That makes the
encoding reversible: at each argument start a ``"`` opens a quoted argument, anything else runs
to the next space. Older osquery (and OpenBSM ``process_events``, and ``processes``) joined
arguments with spaces and no quoting; splitting those on spaces is the best anyone can do, and
:func:`split_plain` says so by name.
"""

from __future__ import annotations


def parse_cmdline(cmdline: str) -> list[str]:
    """The argv that osquery ≥ 5.10 encoded into ``cmdline`` (exact for its encoding).

    An unbalanced quote (a truncated or hand-edited line) keeps the rest of the text as the last
    argument rather than failing: a partial argv is more useful to a rule than none.
    """
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


def split_plain(cmdline: str) -> list[str]:
    """Best-effort argv from an unquoted, space-joined command line (lossy by nature)."""
    return cmdline.split()
