"""Types of the compiled scanner (``_fast.c``); ``fast.py`` is its only user."""

from collections.abc import Callable, Sequence
from typing import Any

class Scanner:
    def __init__(
        self,
        marker: bytes,
        plan: Sequence[tuple[Any, ...]],
        columns: tuple[str | None, ...],
        loads: Callable[[Any], Any],
        dumps: Callable[[Any], bytes],
        resolve: Callable[[str], tuple[Any, ...] | None],
        n_rules: int,
        max_line: int,
        bulk_head: bytes | None,
    ) -> None: ...
    def scan(self, block: bytes, pos: int, state: Any) -> tuple[int, bytes, bool]: ...
    def take_counts(self) -> tuple[int, int, int, int, int, tuple[int, ...]]: ...

def sha256_hex(data: bytes) -> str: ...
