"""Lucene regexp (Elastic EQL ``regex``) → the pattern osquery's ``regex_match`` runs.

What osquery does (``osquery/sql/sqlite_string.cpp``, ``regexStringMatchFunc``): it builds a
``std::regex`` with default flags (ECMAScript grammar, case-sensitive) over the UTF-8 *bytes*
of the value, runs ``std::regex_search`` (a search, not a full match), returns NULL when
nothing matches, and fails the whole query when the pattern is invalid or longer than
``--regex_max_size`` (256 bytes by default).

So the translation anchors the pattern (``^(?:…)$``; Lucene matches the whole string), spells
Lucene's ``.`` as ``[\\s\\S]`` (ECMAScript's ``.`` stops at newlines, Lucene's does not) and
keeps to the subset where matching bytes equals matching code points:

- literals (non-ASCII ones grouped before a quantifier), ``|``, groups, ``* + ? {n,m}``,
  ASCII character classes (``\\d \\s \\w`` too), ``"quoted"`` strings, ``\\`` escapes;
- ``.`` and negated classes only under ``*`` or ``+``: a run of bytes between code point
  boundaries is a run of code points, but a single byte is not a single code point;
- ``regex~`` (std::regex gets no icase flag from osquery): each literal code point, and each
  single character of a class, matches its Lucene case alternates (``ecsquery.values``), spelled
  ``[kK]`` for ASCII ones and as an alternation for the rest (``(?:[kK]|K)``: a byte-exact
  UTF-8 sequence each); class *ranges* stay unfolded, as Lucene leaves them without its
  ``CASE_INSENSITIVE_RANGE`` flag (apache/lucene#14378, elastic/elasticsearch#125412):
  ``-[a-z]`` under ``regex~`` does not match ``-R`` in Elasticsearch, nor here.

Lucene's optional operators (``~`` complement, ``&`` intersection, ``<n-m>``, ``@``, ``#``), a
single ``.``, non-ASCII class members and a negated class whose letters have non-ASCII case
alternates raise ``UnsupportedConstruct``: no silent difference.
"""

from __future__ import annotations

import string

from ecsquery.errors import Pos, UnsupportedConstruct
from ecsquery.values import case_alternates

MAX_BYTES = 256
"""osquery's default ``--regex_max_size``: a longer pattern fails the whole query."""

_META = set("\\^$.|?*+()[]{}/")
_ALNUM = set(string.ascii_letters + string.digits)
_SHORTHAND = {
    "d": set(string.digits),
    "s": set(" \t\n\x0b\f\r"),
    "w": set(string.ascii_letters + string.digits + "_"),
}
_ASCII = {chr(i) for i in range(128)}


class _Atom:
    """One translated atom: its text and whether it is exact only under ``*``/``+``."""

    def __init__(self, text: str, run_only: bool = False, grouped: bool = True) -> None:
        self.text = text
        self.run_only = run_only
        self.grouped = grouped  # safe to quantify as is


def _class_text(members: set[str], negated: bool) -> str:
    codes = sorted(ord(c) for c in members)
    runs: list[tuple[int, int]] = []
    for code in codes:
        if runs and runs[-1][1] == code - 1:
            runs[-1] = (runs[-1][0], code)
        else:
            runs.append((code, code))

    def one(code: int) -> str:
        ch = chr(code)
        return ch if ch in _ALNUM else f"\\x{code:02x}"

    body = "".join(
        one(a) if a == b else f"{one(a)}{one(b)}" if b == a + 1 else f"{one(a)}-{one(b)}"
        for a, b in runs
    )
    return f"[{'^' if negated else ''}{body}]"


class _Translator:
    def __init__(self, pattern: str, case_insensitive: bool, pos: Pos | None) -> None:
        self.src = pattern
        self.i = 0
        self.ci = case_insensitive
        self.pos = pos

    def fail(self, what: str) -> UnsupportedConstruct:
        return UnsupportedConstruct(
            "regex", f"{what} in {self.src!r} (at offset {self.i})", pos=self.pos
        )

    def peek(self) -> str | None:
        return self.src[self.i] if self.i < len(self.src) else None

    def take(self) -> str:
        ch = self.src[self.i]
        self.i += 1
        return ch

    def union(self) -> str:
        alternatives = [self.concat()]
        while self.peek() == "|":
            self.take()
            alternatives.append(self.concat())
        return "|".join(alternatives)

    def concat(self) -> str:
        out: list[str] = []
        while self.peek() not in (None, "|", ")"):
            out.append(self.repeat())
        return "".join(out)

    def repeat(self) -> str:
        atom = self.simple()
        text, quantified = atom.text, False
        while self.peek() in ("*", "+", "?", "{"):
            op = self.take()
            if op == "{":
                end = self.src.find("}", self.i)
                body = self.src[self.i : end] if end >= 0 else ""
                lo, _, hi = body.partition(",")
                if end < 0 or not lo.isdigit() or not (hi == "" or hi.isdigit()):
                    raise self.fail("malformed {n,m}")
                self.i = end + 1
                op = "{" + body + "}"
            if atom.run_only and (quantified or op not in ("*", "+")):
                raise self.fail("'.' or a negated class matching single code points")
            if quantified or not atom.grouped:
                text = f"(?:{text})"
            text += op
            quantified = True
        if atom.run_only and not quantified:
            raise self.fail("'.' or a negated class matching a single code point")
        return text

    def folded(self, members: set[str], singles: set[str]) -> tuple[set[str], list[str]]:
        """A class's ASCII members and non-ASCII alternatives once ``singles`` are folded."""
        extra = {a for c in singles for a in case_alternates(c)} if self.ci else set()
        return members | (extra & _ASCII), sorted(extra - _ASCII)

    def literal(self, ch: str) -> _Atom:
        ascii_members, others = self.folded(set(), {ch})
        if ascii_members or others:
            own = {ch} & _ASCII
            parts = ([_class_text(ascii_members | own, False)] if ascii_members | own else []) + [
                c for c in (ch, *others) if c not in _ASCII
            ]
            return _Atom(parts[0] if len(parts) == 1 else f"(?:{'|'.join(parts)})")
        if ch in _META:
            return _Atom("\\" + ch)
        return _Atom(ch, grouped=len(ch.encode()) == 1)

    def simple(self) -> _Atom:
        ch = self.take()
        if ch in "~&<>@#":
            raise self.fail(f"Lucene operator {ch!r}")
        if ch in "*+?{":
            raise self.fail(f"nothing to repeat before {ch!r}")
        if ch == ".":
            return _Atom("[\\s\\S]", run_only=True)
        if ch == "(":
            inner = self.union()
            if self.peek() != ")":
                raise self.fail("unclosed group")
            self.take()
            return _Atom(f"(?:{inner})")
        if ch == "[":
            return self.char_class()
        if ch == '"':
            end = self.src.find('"', self.i)
            if end < 0:
                raise self.fail("unclosed quoted string")
            text = "".join(self.literal(c).text for c in self.src[self.i : end])
            self.i = end + 1
            return _Atom(f"(?:{text})")
        if ch == "\\":
            if self.peek() is None:
                raise self.fail("trailing backslash")
            esc = self.take()
            if esc.lower() in _SHORTHAND:
                members = _SHORTHAND[esc.lower()]
                negated = esc.isupper()
                return _Atom(_class_text(members, negated), run_only=negated)
            return self.literal(esc)
        return self.literal(ch)

    def class_char(self) -> str:
        ch = self.take()
        if ch == "\\":
            if self.peek() is None:
                raise self.fail("trailing backslash")
            ch = self.take()
        if ch not in _ASCII:
            raise self.fail(f"non-ASCII character {ch!r} in a class")
        return ch

    def char_class(self) -> _Atom:
        negated = self.peek() == "^"
        if negated:
            self.take()
        members: set[str] = set()
        singles: set[str] = set()
        while self.peek() != "]":
            if self.peek() is None:
                raise self.fail("unclosed class")
            if self.src.startswith("\\", self.i) and self.src[self.i + 1 : self.i + 2] in (
                "d",
                "s",
                "w",
            ):
                self.i += 2
                members |= _SHORTHAND[self.src[self.i - 1]]
                continue
            lo = self.class_char()
            if self.peek() == "-" and self.src[self.i + 1 : self.i + 2] not in ("]", ""):
                self.take()
                hi = self.class_char()
                if ord(hi) < ord(lo):
                    raise self.fail("reversed class range")
                members |= {chr(c) for c in range(ord(lo), ord(hi) + 1)}  # never folded
            else:
                singles.add(lo)
        self.take()
        members, others = self.folded(members | singles, singles)
        if not members:
            raise self.fail("empty class")
        if negated and others:
            raise self.fail("case-insensitive negated class with non-ASCII case alternates")
        text = _class_text(members, negated)
        if others:
            text = f"(?:{'|'.join([text, *others])})"
        return _Atom(text, run_only=negated)


def translate(pattern: str, case_insensitive: bool = False, pos: Pos | None = None) -> str:
    """The anchored std::regex (ECMAScript) pattern for a Lucene regexp, or UnsupportedConstruct."""
    translator = _Translator(pattern, case_insensitive, pos)
    body = translator.union()
    if translator.peek() is not None:
        raise translator.fail("unbalanced ')'")
    out = f"^(?:{body})$"
    if len(out.encode("utf-8")) > MAX_BYTES:
        raise UnsupportedConstruct(
            "regex",
            f"{pattern!r} translates to {len(out.encode())} bytes; osquery's regex_match "
            f"refuses patterns over {MAX_BYTES} bytes (--regex_max_size)",
            pos=pos,
        )
    return out
