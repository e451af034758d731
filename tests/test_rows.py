"""The generated flattener's short paths against the one general encoder.

``rows._fast_encoder`` takes the value shapes the extension's own documents use on a short path;
every other shape (NUL in text, numbers or booleans or nested lists inside arrays, lists in
scalar fields) must reach ``encode_value`` and so give exactly its answer (``ecsquery.values``).
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from ecsquery.rows import _fast_encoder, encode_value
from ecsquery.schema import COLUMNS
from ecsquery.values import ListInScalar

_scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(alphabet=st.characters(codec="utf-8") | st.just("\x00"), max_size=8)
)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4), max_leaves=8)


def _encoded(fn: Any, value: Any) -> Any:
    try:
        return fn(value)
    except ListInScalar as exc:
        return ("ListInScalar", str(exc))


@settings(max_examples=400, deadline=None)
@given(st.sampled_from([c for c in COLUMNS if c.ecs is not None]), _values)
def test_fast_encoder_equals_encode_value(column: Any, value: Any) -> None:
    fast = _fast_encoder(column, lambda text: text)
    assert _encoded(fast, value) == _encoded(lambda v: encode_value(column, v), value)


def test_nul_and_numbers_in_arrays_take_the_general_path() -> None:
    args = next(c for c in COLUMNS if c.ecs == "process.args")
    fast = _fast_encoder(args, lambda text: text)
    assert fast(["-d\x00x"]) == '["-d\ufffdx"]'
    assert fast([1, [True, "a"]]) == '["1","true","a"]'
    assert fast(["a", "b"]) == '["a","b"]'
