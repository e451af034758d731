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
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from ecsquery.extension.ecs import (
    EVENT_FIELDS,
    IMAGE_KEY,
    PARTS,
    effective_part,
    event_values,
    host_part,
    image_part,
    parent_part,
)
from ecsquery.extension.model import Proc, ProcEvent, Ref
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
    (``time``) belongs to ``time_part``; the parts in ``tuples`` are tuples of the values of
    the fields it lists, the others nested documents.
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
        tuples: Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        homes = [time_part if c.ecs is None else part_of(c.ecs, parts) for c in columns]
        self.fixed = 128 + 8 * len(columns)
        """What the window charges a row beyond its values' bytes (``window.entry_bytes``)."""
        self.flatteners: dict[str, Flattener] = {}
        slots: list[tuple[int, int, int]] = [(0, 0, 0)] * len(columns)
        for k, name in enumerate(parts):
            mine = [i for i, home in enumerate(homes) if home == name]
            self.flatteners[name] = make_flattener(
                [columns[i] for i in mine],
                [finish[i] for i in mine],
                [memoize[i] for i in mine],
                fields=(tuples or {}).get(name),
            )
            for j, i in enumerate(mine):
                slots[i] = (k, j, len(mine))
        args = ", ".join(f"p{k}" for k in range(len(parts)))
        code = f"def assemble({args}):\n    return ({_runs(slots)},)"
        env: dict[str, Any] = {}
        exec(compile(code, f"<assembler of {len(columns)} columns>", "exec"), env)
        self.assemble: Callable[..., Values] = env["assemble"]
        self.empty = {name: self.finish(name, {}) for name in parts if name not in (tuples or {})}

    def finish(self, name: str, doc: Any, time: Any = None) -> Part:
        values = self.flatteners[name](doc, time)
        return values, sum(map(len, values))


def _runs(slots: Sequence[tuple[int, int, int]]) -> str:
    """The row's elements as code: ``slots`` says, per column, (part, index in the part, the
    part's length); consecutive columns of one part are one unpacked slice (the whole part
    unsliced), so a row of 39 columns is a dozen runs, not 39 subscripts."""
    runs: list[list[int]] = []  # [part, first index, last index]
    for part, index, _ in slots:
        if runs and runs[-1][0] == part and runs[-1][2] == index - 1:
            runs[-1][2] = index
        else:
            runs.append([part, index, index])
    sizes = {part: size for part, _, size in slots}
    code = []
    for part, first, last in runs:
        if first == last:
            code.append(f"p{part}[{first}]")
        elif first == 0 and last == sizes[part] - 1:
            code.append(f"*p{part}")
        else:
            code.append(f"*p{part}[{first}:{last + 1}]")
    return ", ".join(code)


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
        self.parts: dict[Any, tuple[Any, Part]] = {}
        """(owner, part) by key: read directly on the hot path, written only by :meth:`put`."""
        self._bytes = 0

    def __len__(self) -> int:
        return len(self.parts)

    def get(self, key: Any, owner: Any = None) -> Part | None:
        hit = self.parts.get(key)
        return hit[1] if hit is not None and hit[0] is owner else None

    def put(self, key: Any, part: Part, owner: Any = None) -> Part:
        if len(self.parts) >= self.max_entries or self._bytes + part[1] > self.max_bytes:
            self.parts.clear()
            self._bytes = 0
        self.parts[key] = (owner, part)
        self._bytes += part[1]
        return part


def fields_getter(fields: Iterable[str], of: Sequence[str]) -> Callable[[Any], tuple[Any, ...]]:
    """The named fields of a NamedTuple whose fields are ``of``, as one tuple (a key)."""
    return operator.itemgetter(*(list(of).index(f) for f in fields))


class ActorRows:
    """Rows of a table whose documents are a process's parts (``ecs.PARTS``) and, for a file
    or network event, the event's own fields (``own``: their names, a tuple of their values
    per event; ``image``: the table's image part), each repeated part finished
    once: the image's by the fields it is made of, the parent's and the effective parent's
    by the tree's image object, the kind's by what decides it, the host's once."""

    KINDS = 256
    """Kinds of event remembered (a handful in practice: actions × types)."""

    def __init__(
        self,
        columns: Sequence[Column],
        finish: Sequence[Callable[[str], Any]],
        memoize: Sequence[bool],
        *,
        own: Sequence[str] = (),
        image: Callable[[Proc], dict[str, Any]] = image_part,
        host_os_type: str = "macos",
        host_name: str = "",
    ) -> None:
        self._image = image
        """How the image's part is made (``ecs.image_part``, or a table's cut of it)."""
        parts = {**PARTS, "own": tuple(own)} if own else PARTS
        tuples = {"event": EVENT_FIELDS, "own": tuple(own)}
        self.rows = PartRows(columns, finish, memoize, parts, tuples=tuples)
        self._event = self.rows.flatteners["event"]
        self._own = self.rows.flatteners.get("own")
        host, host_size = self.rows.finish("host", host_part(host_os_type, host_name))
        self._host = host
        self._fixed = self.rows.fixed + host_size
        """A row's charge beyond its per-event parts: the tuples, and the host's values."""
        self._assemble = self.rows.assemble
        self._kinds: dict[Any, Part] = {}
        self._images = PartCache()
        self._parents = PartCache()
        self._effective = PartCache()
        self._image_key = fields_getter(IMAGE_KEY, Proc._fields)

    def kind(self, key: Any, build: Callable[..., dict[str, Any]], *args: Any) -> Part:
        """The kind part remembered under ``key``, made by ``build(*args)`` the first time."""
        found = self._kinds.get(key)
        if found is None:
            if len(self._kinds) >= self.KINDS:
                self._kinds.clear()
            found = self._kinds[key] = self.rows.finish("kind", build(*args))
        return found

    def row(
        self,
        event: ProcEvent,
        tree: ProcessTree,
        time: int,
        kind: Part,
        own: Values = (),
    ) -> tuple[Values, int]:
        """The row of an event already passed through :meth:`ProcessTree.observe` (for a
        file or network event: its actor, with ``own`` the values of its own fields), and
        the bytes the window charges for it."""
        values = self._event(event_values(event), time)
        proc = event.proc
        key = self._image_key(proc)
        hit = self._images.parts.get(key)  # a value key: its owner is None
        image = (
            hit[1]
            if hit is not None
            else self._images.put(key, self.rows.finish("image", self._image(proc)))
        )
        parent = self._related(self._parents, "parent", parent_part, event.parent, tree)
        effective = self._related(
            self._effective, "effective", effective_part, tree.effective_parent(event), tree
        )
        size = self._fixed + sum(map(len, values)) + kind[1] + image[1] + parent[1] + effective[1]
        if self._own is None:
            row = self._assemble(values, kind[0], image[0], parent[0], effective[0], self._host)
        else:
            mine = self._own(own, time)
            size += sum(map(len, mine))
            row = self._assemble(
                values, kind[0], image[0], parent[0], effective[0], self._host, mine
            )
        return row, size

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
        hit = cache.parts.get(key)
        if hit is not None and hit[0] is known:
            return hit[1]
        return cache.put(key, self.rows.finish(name, build(ref, known)), known)
