"""A table's row assembled from the finished values of its document's parts.

Most of a process event's row does not belong to the event: the program, argv, signature and
user are the image's (the same for its fork, exec and exit), the parent's columns are the
parent's (the same for every command a shell runs), the host's never change. Flattening the
whole document for every event finished those values again each time; here each part of the
document (``ecs.PARTS``) has its own generated flattener (``rows.make_flattener`` over the
part's columns), a part that repeats is finished once and remembered, and the row is
assembled from the parts' values by generated straight-line code.

A remembered part is found by what it is made from: an image by the :class:`Proc` fields its
part reads (``ecs.IMAGE_KEY``, compared by value), a parent by its image object's identity
(kept beside the values, so a reused ``id`` is never confused) or by its :class:`Ref`. Every
cache is bounded in entries and in the bytes it holds.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from typing import Any

from ecsquery.extension.ecs import (
    FLAT_PARTS,
    IMAGE_KEY,
    PARTS,
    effective_part,
    event_part,
    host_part,
    image_part,
    kind_part,
    parent_part,
)
from ecsquery.extension.model import Action, Proc, ProcEvent, Ref
from ecsquery.extension.tree import ProcessTree
from ecsquery.rows import Flattener, make_flattener
from ecsquery.schema import Column

Values = tuple[Any, ...]
Part = tuple[Values, int]
"""A part's finished values and their bytes (the window charges a row the sum of its parts)."""


def part_of(field: str, parts: Mapping[str, Sequence[str]]) -> str:
    """The part whose longest prefix (whole dotted names) covers ``field``."""
    best, length = "", -1
    for name, prefixes in parts.items():
        for prefix in prefixes:
            covers = field == prefix or field.startswith(prefix + ".")
            if covers and len(prefix) > length:
                best, length = name, len(prefix)
    if not best:
        raise ValueError(f"column of {field!r} belongs to no part of the document")
    return best


class PartRows:
    """One flattener per part and the assembler of a row from the parts' values.

    ``parts`` maps a part's name to the ECS prefixes it writes; a column without an ECS field
    (``time``) belongs to ``time_part``; the parts in ``flat`` are written with dotted keys.
    :meth:`finish` turns a part's document into its
    :data:`Part`; :meth:`assemble` takes every part's values, in the order of ``parts``, and
    returns the row in column order. :attr:`empty` is each part's values for an empty
    document (a process without a parent: its parent columns missing).
    """

    def __init__(
        self,
        columns: Sequence[Column],
        finish: Sequence[Callable[[str], Any]],
        memoize: Sequence[bool],
        parts: Mapping[str, Sequence[str]],
        time_part: str = "event",
        flat: Collection[str] = (),
    ) -> None:
        homes = [time_part if c.ecs is None else part_of(c.ecs, parts) for c in columns]
        self.fixed = 128 + 8 * len(columns)
        """What the window charges a row beyond its values' bytes (``window.entry_bytes``)."""
        self._flatteners: dict[str, Flattener] = {}
        slots = [""] * len(columns)
        for k, name in enumerate(parts):
            mine = [i for i, home in enumerate(homes) if home == name]
            self._flatteners[name] = make_flattener(
                [columns[i] for i in mine],
                [finish[i] for i in mine],
                [memoize[i] for i in mine],
                flat=name in flat,
            )
            for j, i in enumerate(mine):
                slots[i] = f"p{k}[{j}]"
        args = ", ".join(f"p{k}" for k in range(len(parts)))
        code = f"def assemble({args}):\n    return ({', '.join(slots)},)"
        env: dict[str, Any] = {}
        exec(compile(code, f"<assembler of {len(columns)} columns>", "exec"), env)
        self.assemble: Callable[..., Values] = env["assemble"]
        self.empty = {name: self.finish(name, {}) for name in parts}

    def finish(self, name: str, doc: Mapping[str, Any], time: Any = None) -> Part:
        values = self._flatteners[name](doc, time)
        return values, sum(map(len, values))


class PartCache:
    """Finished parts by key, bounded in entries and in the bytes of their values (then it
    starts over: that only costs finishing again, never correctness). A value key holds
    about as many bytes again (an image's argv is in its key and, encoded, in its part).

    A key is either a value (equal keys, equal parts: ``owner`` None) or an object's ``id``
    with the object as ``owner``, kept beside the part so the ``id`` cannot be reused while
    remembered.
    """

    def __init__(self, max_entries: int = 1024, max_bytes: int = 2 * 1024 * 1024) -> None:
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self._parts: dict[Any, tuple[Any, Part]] = {}
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._parts)

    def get(self, key: Any, owner: Any = None) -> Part | None:
        hit = self._parts.get(key)
        return hit[1] if hit is not None and hit[0] is owner else None

    def put(self, key: Any, part: Part, owner: Any = None) -> Part:
        if len(self._parts) >= self.max_entries or self._bytes + part[1] > self.max_bytes:
            self._parts.clear()
            self._bytes = 0
        self._parts[key] = (owner, part)
        self._bytes += part[1]
        return part


def fields_getter(fields: Iterable[str], of: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The named fields of a NamedTuple whose fields are ``of``, as one tuple (a key)."""
    return operator.itemgetter(*(list(of).index(f) for f in fields))


class ProcessRows:
    """Rows of process events from their parts (``ecs.PARTS``), each repeated part finished
    once: the image's by the fields it is made of, the parent's and the effective parent's
    by the tree's image object, the host's once."""

    def __init__(
        self,
        columns: Sequence[Column],
        finish: Sequence[Callable[[str], Any]],
        memoize: Sequence[bool],
        *,
        host_os_type: str = "macos",
        host_name: str = "",
    ) -> None:
        self.rows = PartRows(columns, finish, memoize, PARTS, flat=FLAT_PARTS)
        self._host = self.rows.finish("host", host_part(host_os_type, host_name))
        self._kinds = {action: self.rows.finish("kind", kind_part(action)) for action in Action}
        self._images = PartCache()
        self._parents = PartCache()
        self._effective = PartCache()
        self._image_key = fields_getter(IMAGE_KEY, Proc._fields)

    def row(self, event: ProcEvent, tree: ProcessTree, time: int) -> tuple[Values, int]:
        """The row of an event already passed through :meth:`ProcessTree.observe`, and the
        bytes the window charges for it."""
        rows = self.rows
        values, size = rows.finish("event", event_part(event), time)
        proc = event.proc
        key = self._image_key(proc)
        image = self._images.get(key) or self._images.put(
            key, rows.finish("image", image_part(proc))
        )
        parent = self._related(self._parents, "parent", parent_part, event.parent, tree)
        effective = self._related(
            self._effective, "effective", effective_part, tree.effective_parent(event), tree
        )
        kind, host = self._kinds[event.action], self._host
        row = rows.assemble(values, kind[0], image[0], parent[0], effective[0], host[0])
        return row, rows.fixed + size + kind[1] + image[1] + parent[1] + effective[1] + host[1]

    def _related(
        self,
        cache: PartCache,
        name: str,
        build: Callable[[Ref, Proc | None], dict[str, Any]],
        ref: Ref | None,
        tree: ProcessTree,
    ) -> Part:
        """The part of a process this one names (``ref``), by the image the tree knows."""
        if ref is None:
            return self.rows.empty[name]
        known = tree.get(ref)
        key: Any = ref if known is None else id(known)
        found = cache.get(key, known)
        if found is None:
            found = cache.put(key, self.rows.finish(name, build(ref, known)), known)
        return found
