"""ES|QL rule queries → a small plan: one source, then WHERE / EVAL / MV_EXPAND / STATS ... BY /
KEEP / SORT.

The subset ecsquery compiles to SQL (``rules/sql/multi_esql.py``) and evaluates in Python
(``testing/multi.py``). Everything else is refused by name while parsing: other commands
(``LIMIT``, ``DISSECT``...), functions outside ``FUNCTIONS``/``AGGREGATES``,
sources other than Elastic Defend's process events, arithmetic.

Semantics are ES|QL's (Elasticsearch docs "ES|QL" reference): three-valued logic (a
comparison with null is null; WHERE keeps rows whose condition is true); a multi-valued field
is null for comparisons and scalar functions; ``LIKE``/``RLIKE`` are case-sensitive, match the
whole string, ``*``/``?`` and ``\\`` escape for LIKE, Lucene regex for RLIKE; ``KQL("...")``
is a KQL query over the row with KQL's own semantics, never null. ``MV_EXPAND f`` makes one
row per value of ``f`` (a keyword array's values are distinct, as Elasticsearch stores them),
and one row with ``f`` null when it has none (ES|QL docs, "MV_EXPAND" and "multivalued fields").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from lark import Token, Tree

from ecsquery.errors import Pos, RuleSyntaxError, UnsupportedConstruct
from ecsquery.rules.lang.ast import Expr
from ecsquery.rules.lang.grammar import parse_tree, pos_of
from ecsquery.rules.lang.kql import parse_kql
from ecsquery.schema import TABLES

PROCESS_SOURCE = "logs-endpoint.events.process-*"
STREAMS: dict[str, str] = {f"logs-endpoint.events.{t.category}-*": t.category for t in TABLES}
"""Elastic Defend's data stream of each category a table serves → that category (the process,
file and network events): the one source a query reads."""
WIDE_SOURCES = frozenset({"logs-*", "logs-endpoint.events.*"})
"""Patterns that include the process events: accepted when the first command is a WHERE with
a top-level ``event.category == "process"`` conjunct, which leaves exactly the process events."""
NON_MAC_SOURCES = frozenset({"logs-system.security-*", "logs-windows.sysmon_operational-*"})
"""Windows-only data streams a cross-platform rule may list beside the process events: on a
Mac they hold no events, so reading only the process table loses nothing."""
FUNCTIONS = frozenset({"to_lower", "length", "locate", "space", "date_trunc", "case", "kql"})
AGGREGATES = frozenset({"count", "count_distinct", "values", "min", "max"})
ANSWERED_ELSEWHERE: dict[str, str] = {
    "COMPLETION": "the rows it keeps depend on a large language model's reply to a prompt (an"
    " inference endpoint in the cluster; ES|QL docs, esql-commands#esql-completion), which no"
    " host can reproduce",
    "RERANK": "the rows' scores come from a reranking model (an inference endpoint in the"
    " cluster), which no host can reproduce",
    "ENRICH": "the values come from an enrich policy's index in the cluster, not the event",
    "LOOKUP": "the values come from a lookup index in the cluster, not the event",
}
"""Commands whose answer comes from outside the events: refused before anything else in the
query (``parse_esql``), since no change to the subset could ever compile such a rule."""
_UNIT_MS = {
    "millisecond": 1,
    "second": 1000,
    "minute": 60_000,
    "hour": 3_600_000,
    "day": 86_400_000,
}


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Lit:
    value: str | int | float | bool | None


@dataclass(frozen=True)
class Call:
    name: str  # lower case
    args: tuple[Node, ...]
    star: bool = False  # count(*)


@dataclass(frozen=True)
class Kql:
    """``KQL("...")``: the parsed KQL condition (single-event AST)."""

    where: Expr


@dataclass(frozen=True)
class Bool:
    op: str  # "and" | "or"
    children: tuple[Node, ...]


@dataclass(frozen=True)
class Neg:
    child: Node


@dataclass(frozen=True)
class Cmp:
    op: str
    left: Node
    right: Node


@dataclass(frozen=True)
class Like:
    left: Node
    pattern: str
    regex: bool
    negated: bool


@dataclass(frozen=True)
class In:
    left: Node
    items: tuple[Node, ...]
    negated: bool


@dataclass(frozen=True)
class IsNull:
    left: Node
    negated: bool


Node: TypeAlias = Field | Lit | Call | Kql | Bool | Neg | Cmp | Like | In | IsNull


@dataclass(frozen=True)
class Where:
    condition: Node


@dataclass(frozen=True)
class Eval:
    assignments: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Stats:
    aggregates: tuple[tuple[str, Call], ...]
    by: tuple[tuple[str, Node], ...]


@dataclass(frozen=True)
class Keep:
    patterns: tuple[str, ...]


@dataclass(frozen=True)
class MvExpand:
    field: str


Command: TypeAlias = Where | Eval | Stats | Keep | MvExpand


@dataclass(frozen=True)
class Pipeline:
    commands: tuple[Command, ...]
    sources: tuple[str, ...] = (PROCESS_SOURCE,)
    """The FROM index patterns (data stream names ``type-dataset-namespace``)."""
    category: str = "process"
    """The event category of the one stream read (:data:`STREAMS`): the table the SQL reads."""

    @property
    def stats(self) -> Stats | None:
        found = [c for c in self.commands if isinstance(c, Stats)]
        return found[0] if found else None


def parse_esql(text: str) -> Pipeline:
    """Parse an ES|QL query of the subset; raises ``RuleSyntaxError``/``UnsupportedConstruct``."""
    tree = parse_tree("esql", text, {"$END": "end of query"})
    source, *rest = tree.children
    assert isinstance(source, Tree)
    for node in rest:
        assert isinstance(node, Tree)
        word = _command_word(node)
        if word in ANSWERED_ELSEWHERE:
            raise UnsupportedConstruct(word, ANSWERED_ELSEWHERE[word], pos=pos_of(node))
    commands: list[Command] = []
    for node in rest:
        assert isinstance(node, Tree)
        command = _command(node)
        if command is None:
            continue
        if isinstance(command, Stats) and any(isinstance(c, Stats) for c in commands):
            raise UnsupportedConstruct("second STATS", "one aggregation only", pos=pos_of(node))
        commands.append(command)
    names, category = _sources(source, commands[0] if commands else None)
    return Pipeline(tuple(commands), names, category)


def _pins_process(command: Command | None) -> bool:
    if not isinstance(command, Where):
        return False
    cond = command.condition
    terms = cond.children if isinstance(cond, Bool) and cond.op == "and" else (cond,)
    return Cmp("==", Field("event.category"), Lit("process")) in terms


def _sources(node: Tree[Token], first: Command | None) -> tuple[tuple[str, ...], str]:
    """The FROM patterns and the category of the one Defend stream among them (beside it only
    Windows-only streams), or the process events a wide pattern is pinned to."""
    names = tuple(str(t) for t in node.children if isinstance(t, Token))
    if len(names) == 1 and names[0] in WIDE_SOURCES and _pins_process(first):
        return names, "process"
    streams = {STREAMS[n] for n in names if n in STREAMS}
    if len(streams) != 1 or any(n not in NON_MAC_SOURCES and n not in STREAMS for n in names):
        served = ", ".join(STREAMS)
        raise UnsupportedConstruct(
            f"FROM {', '.join(names)}",
            f"the host serves one of {served} (or logs-* pinned to the process events)",
            pos=pos_of(node),
        )
    return names, streams.pop()


def _command(node: Tree[Token]) -> Command | None:
    kids = node.children
    match node.data:
        case "where_cmd":
            return Where(_expr(kids[0]))
        case "eval_cmd":
            return Eval(tuple(_assign(k) for k in kids))
        case "stats_cmd":
            aggs = [k for k in kids if isinstance(k, Tree) and k.data in ("assign", "unnamed")]
            by = kids[len(aggs) :]
            named = []
            for name, value in (_assign(a) for a in aggs):
                if not (isinstance(value, Call) and value.name in AGGREGATES):
                    raise UnsupportedConstruct("STATS expression", f"{name} is not an aggregate")
                named.append((name, value))
            return Stats(tuple(named), tuple((_name(b), _expr(b)) for b in by))
        case "keep_cmd":
            return Keep(tuple(str(k.children[0]) for k in kids if isinstance(k, Tree)))
        case "mv_expand_cmd":
            return MvExpand(_field_name(str(kids[0])))
        case "sort_cmd":
            return None  # order of the rows does not change which rows alert
        case "other_cmd":
            raise UnsupportedConstruct(
                _command_word(node) or "command",
                "command outside ecsquery's ES|QL subset",
                pos=pos_of(node),
            )
    raise AssertionError(node.data)  # pragma: no cover


def _command_word(node: Tree[Token]) -> str | None:
    """The keyword of a command outside the subset (``LIMIT``, ``COMPLETION``...), else None."""
    if node.data != "other_cmd":
        return None
    return str(node.children[0]).split(None, 1)[0].upper()


def _name(node: Tree[Token] | Token) -> str:
    if isinstance(node, Tree) and node.data == "field":
        return _field_name(str(node.children[0]))
    raise UnsupportedConstruct(
        "BY expression", "group by fields or EVAL names only", pos=pos_of(node)
    )


def _assign(node: Tree[Token] | Token) -> tuple[str, Node]:
    assert isinstance(node, Tree)
    if node.data == "unnamed":
        raise UnsupportedConstruct(
            "unnamed column", "name every EVAL and STATS column", pos=pos_of(node)
        )
    name, value = node.children
    return _field_name(str(name)), _expr(value)


def _field_name(text: str) -> str:
    return ".".join(part.strip("`").replace("``", "`") for part in text.split("."))


def _string(token: Token) -> str:
    text = str(token)
    if text.startswith('"""'):
        return text[3:-3]
    body = text[1:-1]
    escapes = {"n": "\n", "t": "\t", "r": "\r", '"': '"', "\\": "\\"}
    out, i = [], 0
    while i < len(body):
        if body[i] == "\\" and i + 1 < len(body):
            if body[i + 1] not in escapes:
                raise RuleSyntaxError(f"unknown escape \\{body[i + 1]}", pos=pos_of(token))
            out.append(escapes[body[i + 1]])
            i += 2
        else:
            out.append(body[i])
            i += 1
    return "".join(out)


def _expr(node: Tree[Token] | Token) -> Node:
    if isinstance(node, Token):
        match node.type:
            case "TRUE" | "FALSE":
                return Lit(node.type == "TRUE")
            case "NULL_LIT":
                return Lit(None)
        raise AssertionError(node.type)  # pragma: no cover
    kids = node.children
    pos: Pos = pos_of(node)
    match node.data:
        case "or_e" | "and_e":
            return Bool(node.data[:-2], tuple(_expr(k) for k in kids))
        case "not_e":
            return Neg(_expr(kids[1]))
        case "comparison":
            return Cmp(str(kids[1]), _expr(kids[0]), _expr(kids[2]))
        case "like" | "rlike":
            negated = len(kids) == 3
            pattern = kids[-1]
            assert isinstance(pattern, Token)
            return Like(_expr(kids[0]), _string(pattern), node.data == "rlike", negated)
        case "in_list":
            negated = isinstance(kids[1], Token) and kids[1].type == "NOT"
            items = kids[2:] if negated else kids[1:]
            return In(_expr(kids[0]), tuple(_expr(k) for k in items), negated)
        case "is_null":
            return IsNull(_expr(kids[0]), len(kids) == 2)
        case "string":
            token = kids[0]
            assert isinstance(token, Token)
            return Lit(_string(token))
        case "number":
            text = str(kids[0])
            return Lit(float(text) if "." in text else int(text))
        case "duration":
            unit = str(kids[1]).lower().rstrip("s")
            return Lit(int(float(str(kids[0])) * _UNIT_MS[unit]))
        case "field":
            return Field(_field_name(str(kids[0])))
        case "call":
            return _call(str(kids[0]).lower(), kids[1] if len(kids) > 1 else None, pos)
    raise UnsupportedConstruct(node.data, "not in ecsquery's ES|QL subset", pos=pos)


def _call(name: str, args: Tree[Token] | Token | None, pos: Pos) -> Node:
    if name not in FUNCTIONS | AGGREGATES:
        raise UnsupportedConstruct(
            f"function {name.upper()}", "outside ecsquery's ES|QL subset", pos=pos
        )
    items = args.children if isinstance(args, Tree) else []
    if items and isinstance(items[0], Token) and items[0].type == "STAR":
        if name != "count":
            raise UnsupportedConstruct(f"{name.upper()}(*)", "only COUNT(*) takes *", pos=pos)
        return Call(name, (), star=True)
    values = tuple(_expr(a) for a in items)
    if name == "kql":
        if (
            len(values) != 1
            or not isinstance(values[0], Lit)
            or not isinstance(values[0].value, str)
        ):
            raise UnsupportedConstruct("function KQL", "expects one string literal", pos=pos)
        return Kql(parse_kql(values[0].value).where)
    return Call(name, values)
