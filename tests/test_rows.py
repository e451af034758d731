"""The generated flattener against the one general encoder.

``rows.make_flattener`` turns the extension's own documents into rows with straight-line code and
a per-column memo; on every value shape (NUL in text, numbers or booleans or nested lists inside
arrays, lists in scalar fields, ``1`` after ``True``) it must give exactly what ``encode_value``
gives (``ecsquery.values``), however often a value repeats.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.rows import _ARRAY_JSON, _json_array, encode_value, make_flattener
from ecsquery.schema import COLUMNS, TABLES, EcsType
from ecsquery.values import ListInScalar, flatten, keyword, text

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.just("\x00"), max_size=8)
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)
_COLUMNS = [
    c for t in TABLES for c in t.columns if c.ecs is not None and not c.ecs.startswith("@")
]  # every table's: the process table's, and the ip and port columns of the network table


def _nest(dotted: str, value: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {}
    node = doc
    *parents, last = dotted.split(".")
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value
    return doc


def _answer(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except ListInScalar as exc:
        return ("ListInScalar", str(exc))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(_COLUMNS), st.lists(_values, min_size=1, max_size=6))
def test_flattener_equals_encode_value(column: Any, values: list[Any]) -> None:
    flatten = make_flattener([column], [lambda text: text], [True])
    for value in values + values:  # every value twice: the second may come from the memo
        got = _answer(lambda v: flatten(_nest(column.ecs, v), 0)[0], value)
        assert got == _answer(lambda v: encode_value(column, v), value)


def test_equal_keys_of_other_types_never_share_a_memo_entry() -> None:
    name = next(c for c in COLUMNS if c.ecs == "process.name")
    flatten = make_flattener([name], [lambda text: text], [True])
    assert [flatten({"process": {"name": v}}, 0)[0] for v in (True, 1, 1.0, "1")] == [
        "true",
        "1",
        "1.0",
        "1",
    ]


def test_nul_and_numbers_in_arrays_take_the_general_path() -> None:
    args = next(c for c in COLUMNS if c.ecs == "process.args")
    flatten = make_flattener([args], [lambda text: text], [True])
    assert flatten({"process": {"args": ["-d\x00x"]}}, 0)[0] == '["-d\ufffdx"]'
    assert flatten({"process": {"args": [1, [True, "a"]]}}, 0)[0] == '["1","true","a"]'
    assert flatten({"process": {"args": ["a", "b"]}}, 0)[0] == '["a","b"]'


def test_memos_never_mix_classes_across_numbers_and_text() -> None:
    pid = next(c for c in COLUMNS if c.ecs == "process.pid")
    flatten = make_flattener([pid], [lambda text: text], [True])
    got = [flatten({"process": {"pid": v}}, 0)[0] for v in (1, True, 1.0, "1", 1, None, False)]
    assert got == ["1", "1", "1.0", "1", "1", "", "0"]


@settings(max_examples=300, deadline=None)
@given(st.lists(_values, max_size=6) | st.lists(st.text(), max_size=6).map(tuple))
def test_an_array_of_text_is_encoded_as_the_general_walk_does(value: Any) -> None:
    """``encode_value``'s shortcut for lists of text equals the element-by-element walk
    (``values.flatten``, ``keyword``, NUL mapped) on every shape, text or not."""
    args = next(c for c in COLUMNS if c.ecs == "process.args")
    items = [text(keyword(v)) for v in flatten(value)]
    assert encode_value(args, value) == (
        json.dumps(items, ensure_ascii=False, separators=(",", ":")) if items else ""
    )


def test_an_ip_column_gets_the_canonical_text_from_the_flattener_too() -> None:
    # The flattener's shortcut for text must not skip ``values.ip_text`` (an ip column's
    # cell is the address, not how it was written): equal to encode_value, memo or not.
    column = next(c for t in TABLES for c in t.columns if c.ecs_type is EcsType.IP)
    assert column.ecs is not None
    flatten = make_flattener([column], [lambda text: text], [True])
    for value in ["::FFFF:10.0.0.1", "2001:DB8::1", "not an address", 7] * 2:
        assert flatten(_nest(column.ecs, value), 0)[0] == encode_value(column, value)
    assert flatten(_nest(column.ecs, "2001:DB8::1"), 0) == ("2001:db8::1",)


@given(st.lists(st.text(), min_size=1, max_size=5))
def test_text_arrays_are_json_with_or_without_the_encoder(items: list[str]) -> None:
    """The array shortcut (a join when nothing needs escaping) is the encoder's output."""
    assert _json_array(items) == _ARRAY_JSON(items)
