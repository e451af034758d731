"""File events in the pipeline: which are kept (:class:`FileScope`) and the ECS document each
becomes (:func:`file_document`).

File events are far more frequent than process events (a build writes thousands a second), and
a rule can only ever match a few directories, so the extension keeps only the paths the file
rules look at (:data:`DEFAULT_PATHS`, from the single-event and sequence rules in
``tests/fixtures/elastic-rules-mac`` and ``elastic-rules-multi``) and drops the events of muted
processes (:data:`DEFAULT_MUTED`: the event sources themselves, whose own reads would otherwise
feed back). Both are settings (``file_paths``, ``file_mute_processes``); every event dropped is
counted (``dropped.scope``, ``dropped.muted``, ``dropped.duplicate``).

The document is a process document of the actor (:func:`ecsquery.extension.ecs.build_document`:
the same ``process.*``, parent, effective parent, ``user.*`` as a process event, filled from the
process tree, since ESF's file messages carry no argv) with Elastic Defend's file ``event.*``
and ``file.*`` fields, ``Effective_process`` (Defend's top-level field on file events: the
process that asked for the action, ESF's *responsible* process when it is not the actor itself)
and, for a launch item, ``Persistence`` instead of ``file``.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any

from ecsquery.extension.ecs import EFFECTIVE_FIELDS, actor_document, effective_values
from ecsquery.extension.model import ProcEvent, named
from ecsquery.extension.normalize.files import (
    FILE_FIELDS,
    FileEvent,
    file_values,
    indexable,
    join,
)
from ecsquery.extension.tree import ProcessTree, fill, with_proc

DEFAULT_PATHS: tuple[str, ...] = (
    # launchd jobs (persistence_suspicious_launch_agent_or_launch_daemon, _hidden_plist_filename)
    "/Library/LaunchAgents/*",
    "/Library/LaunchDaemons/*",
    "/System/Library/LaunchAgents/*",
    "/System/Library/LaunchDaemons/*",
    "/Users/*/Library/LaunchAgents/*",
    # cron (privilege_escalation_root_crontab_filemod, persistence_crontab_creation)
    "/private/var/at/tabs/*",
    # /etc: sudoers, periodic, emond, hosts (…_sudoers_file_mod, …_periodic_tasks_file_modify)
    "/private/etc/*",
    "/etc/*",
    "/private/var/db/emondClients/*",
    # startup items, authorization and directory-services plugins
    "/Library/StartupItems/*",
    "/System/Library/StartupItems/*",
    "/Library/Security/SecurityAgentPlugins/*",
    "/Library/DirectoryServices/PlugIns/*",
    # preferences: loginwindow, TimeMachine, SystemConfiguration, screensaver, dock
    "/Library/Preferences/*",
    "/Library/Managed Preferences/*",
    "/System/Library/Preferences/*",
    "/Users/*/Library/Preferences/*",
    # shell profiles (persistence_shell_profile_modification)
    "/Users/*/.bash_profile",
    "/Users/*/.bashrc",
    "/Users/*/.profile",
    "/Users/*/.zshenv",
    "/Users/*/.zshrc",
    "/Users/*/.zprofile",
    "/Users/*/.bash_logout",
    "/private/var/root/.*",
    # mail rules, calendars, editor plugins
    "/Users/*/Library/Mail/*/MailData/SyncedRules.plist",
    "/Users/*/Library/Mobile Documents/com.apple.mail/*",
    "/Users/*/Library/Calendars/*",
    "/Users/*/.atom/init.coffee",
    "/Users/*/Library/Application Support/Sublime Text*",
    "/Applications/Sublime Text.app/Contents/MacOS/sublime.py",
    # browser secrets opened (credential_access_suspicious_web_browser_sensitive_file_access)
    "/Users/*/Cookies",
    "/Users/*/Cookies.binarycookies",
    "/Users/*/cookies.sqlite",
    "/Users/*/logins.json",
    "/Users/*/key?.db",
    "/Users/*/Login Data",
    # what a GenAI tool reads (credential_access_genai_process_sensitive_file_access; the shell
    # profiles, Cookies, logins.json, key?.db and Login Data are above)
    "/Users/*/Local State",
    "/Users/*/signons.sqlite",
    "/Users/*/login.keychain-db",
    "/Library/Keychains/System.keychain",
    "/Users/*/credentials",
    "/Users/*/credentials.db",
    "/Users/*/access_tokens.db",
    "/Users/*/accessTokens.json",
    "/Users/*/azureProfile.json",
    "/Users/*/known_hosts",
    "/Users/*/KeePass.config.xml",
    # where the sequences' file steps write (discovery output, downloads, package scripts)
    "/private/tmp/*",
    "/private/var/tmp/*",
    "/Users/Shared/*",
    "/Library/WebServer/*",
    "/Library/Graphics/*",
    "/Library/Fonts/*",
    "/private/var/root/Library/*",
    "/usr/local/bin/*",
)
"""Where the Mac file rules look (globs: ``*`` any text including ``/``, ``?`` one character,
matched case-insensitively, so a superset of the rules' ``like`` and ``like~``). Left out on
purpose: ``/private/var/folders/*`` (every app's caches and temporary files; only the
package-install sequence's file step looks there)."""

DEFAULT_MUTED: tuple[str, ...] = (
    "/usr/bin/eslogger",
    "/opt/osquery/lib/osquery.app/Contents/MacOS/osqueryd",
)
"""Executables whose file events are dropped: eslogger and osqueryd (the official package's
path) themselves. Exact paths, never names: a name is the attacker's to choose."""

FILE_WINDOW_BYTES = 32 * 1024 * 1024
"""The file table's window budget, beside the process table's 64 MiB (``window.py``): the two
together stay inside osquery's 200 MB watchdog limit for the extension."""

OUTCOME = "success"
"""``event.outcome`` of every file event. Elastic Defend lists ``event.outcome`` among the fields
it writes on each macOS file event (elastic/endpoint-package
``custom_documentation/src/endpoint/data_stream/file/macos/macos_file_access.yaml``,
``_modification``, ``_rename``, ``_delete``, ``_extended_attributes_delete``,
``_launch_daemon``, commit 19941229e, line ``- event.outcome``), an ECS field whose values are
``success``, ``failure`` and ``unknown`` (``package/endpoint/data_stream/file/fields/fields.yml``
l. 373-385 there); the package does not document the value itself. Both of ecsquery's
sources read EndpointSecurity NOTIFY messages, which report an operation that took place
(eslogger(1) subscribes to NOTIFY events only: every message of the real capture
``tests/fixtures/eslogger/mullvad_eslogger_exec_fork_exit.ndjson`` has ``action_type`` 1,
``ES_ACTION_TYPE_NOTIFY`` in Apple's ``ESTypes.h``; osquery's
``endpointsecurity_fim.cpp`` ``handleMessage`` drops ``ES_ACTION_TYPE_AUTH`` and serves the
``ES_EVENT_TYPE_NOTIFY_*`` create/write/rename/truncate, osquery a5b14f63d): ``success``. A
denied or failed operation produces no NOTIFY message, so no event here is a ``failure``, as
``credential_access_genai_process_sensitive_file_access`` (``event.outcome == "success"``)
expects of Defend's macOS file events."""

MAX_LAUNCH_ITEMS = 4096
"""Launch items remembered for deduplication (then the least recently added is forgotten)."""


Matcher = Callable[[str], bool]


def glob_matcher(pattern: str) -> Matcher:
    """One glob as a test of a lower-cased path: ``*`` by ``startswith``/``find``/``endswith``
    (no backtracking), a pattern with ``?`` by a regular expression."""
    text = pattern.lower()
    if "?" in text:
        regex = re.compile(
            "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in text),
            re.DOTALL,
        )
        return lambda path: regex.fullmatch(path) is not None
    if "*" not in text:
        return lambda path: path == text
    first, *middle, last = text.split("*")
    fixed = len(first) + len(last)

    def match(path: str) -> bool:
        if len(path) < fixed or not path.startswith(first) or not path.endswith(last):
            return False
        pos, end = len(first), len(path) - len(last)
        for segment in middle:
            found = path.find(segment, pos, end)
            if found < 0:
                return False
            pos = found + len(segment)
        return True

    return match


def _head(path: str) -> str:
    end = path.find("/", 1)
    return path[1:end] if end > 0 else path[1:]


MEMO_PATHS = 4096
"""Paths whose answer :meth:`Globs.match` remembers (at most about 1 MiB, :data:`MEMO_CHARS`)."""
MEMO_CHARS = 256
"""Longer paths are matched afresh each time: a hostile 300 KB path is not kept."""


class Globs:
    """Path globs (``*`` any text including ``/``, ``?`` one character, case-insensitive).

    Matched per event, and per candidate path of each undecoded line
    (:meth:`FileScope.skip_line`), so made cheap by what each glob's shape allows, every test
    exact:

    * a glob with no wildcard is a set member; one whose only wildcard is a final ``*`` (most:
      ``/Library/LaunchAgents/*``) is a prefix, tried with the other prefixes of its first
      path component in one ``str.startswith`` of a tuple;
    * a glob whose last component has no wildcard (``/Users/*/.zshrc``) can only match a path
      with that last component (the glob's text ends with ``/`` and it): grouped by it;
    * the others are grouped by their first path component when it has no wildcard (a path is
      tried only against its own component's), else tried on every path.

    A grouped glob is tried only when the path contains its longest literal run after the
    first (the first is its matcher's ``startswith``). ``*`` alone matches everything. Trying
    each glob of a path's first component in turn (30-odd under ``/Users``) was most of the
    cost of scoping an undecoded line (``bench.extension_file``).
    """

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        self.everything = "*" in self.patterns
        prefixes: dict[str, list[str]] = {}  # by first component ("": a glob like "/lib*")
        exact: set[str] = set()
        self._by_name: dict[str, list[tuple[str, Matcher]]] = {}
        self._by_head: dict[str, list[tuple[str, Matcher]]] = {}
        self._anywhere: list[tuple[str, Matcher]] = []
        for pattern in self.patterns:
            text = pattern.lower()
            if "?" in text or "*" in text[:-1]:
                runs = re.split(r"[*?]", text)
                entry = (max(runs[1:] or runs, key=len), glob_matcher(pattern))
                head, name = _head(text), text[text.rfind("/") + 1 :]
                if "*" not in name and "?" not in name:
                    self._by_name.setdefault(name, []).append(entry)
                elif text.startswith("/") and "*" not in head and "?" not in head:
                    self._by_head.setdefault(head, []).append(entry)
                else:
                    self._anywhere.append(entry)
            elif text.endswith("*"):
                prefix = text[:-1]
                grouped = prefix.startswith("/") and prefix.find("/", 1) > 0
                prefixes.setdefault(_head(prefix) if grouped else "", []).append(prefix)
            else:
                exact.add(text)
        self._ungrouped = tuple(prefixes.pop("", ()))
        self._prefixes = {head: tuple(group) for head, group in prefixes.items()}
        self._exact = frozenset(exact)
        self._memo: dict[str, bool] = {}

    def match(self, path: str) -> bool:
        """Whether ``path`` matches a glob; remembered for :data:`MEMO_PATHS` paths of at most
        :data:`MEMO_CHARS` characters (then forgotten all at once): a build creates, writes
        and closes each file in a few directories, and ``skip_line`` tries a new file's
        directory each time, :meth:`FileScope.verdict` a kept event's path again."""
        if self.everything:
            return True
        known = self._memo.get(path)
        if known is not None:
            return known
        found = self._match(path)
        if len(path) <= MEMO_CHARS:
            if len(self._memo) >= MEMO_PATHS:
                self._memo.clear()
            self._memo[path] = found
        return found

    def _match(self, path: str) -> bool:
        lowered = path.lower()
        head = _head(lowered)
        if lowered.startswith(self._prefixes.get(head, ())) or lowered in self._exact:
            return True
        for key, matcher in self._by_name.get(lowered[lowered.rfind("/") + 1 :], ()):
            if key in lowered and matcher(lowered):
                return True
        for key, matcher in self._by_head.get(head, ()):
            if key in lowered and matcher(lowered):
                return True
        for key, matcher in self._anywhere:
            if key in lowered and matcher(lowered):
                return True
        return bool(self._ungrouped) and lowered.startswith(self._ungrouped)


class FileScope:
    """Which file events are kept: not a muted process's, in scope, not a repeated launch item."""

    def __init__(
        self,
        paths: Iterable[str] = DEFAULT_PATHS,
        muted: Iterable[str] = DEFAULT_MUTED,
        *,
        max_items: int = MAX_LAUNCH_ITEMS,
    ) -> None:
        self.paths = tuple(paths)
        self._scope = Globs(self.paths)
        self.muted = frozenset(muted)
        self.max_items = max_items
        self._items: OrderedDict[tuple[Any, ...], None] = OrderedDict()

    def in_scope(self, path: str) -> bool:
        return self._scope.match(path)

    def verdict(self, event: FileEvent) -> str:
        """Why ``event`` is dropped (the counter's suffix), or ``""`` when it is kept."""
        if event.actor.proc.executable in self.muted:
            return "muted"
        item = event.launch_item
        if item is not None:  # rare, and a plist may live in any app bundle: never scoped
            if event.forget:
                self._items.pop(item.key, None)
                return "launch_item_remove"
            if item.key in self._items:
                self._items.move_to_end(item.key)
                return "duplicate"
            self._items[item.key] = None
            if len(self._items) > self.max_items:
                self._items.popitem(last=False)
            return ""
        if self._scope.match(event.path):
            return ""
        if event.original_path and self._scope.match(event.original_path):
            return ""  # a rename out of a watched directory
        return "scope"

    def skip_line(self, line: str) -> bool:
        """Whether an eslogger line is a file event out of scope, decided before it is decoded.

        At a build's rate decoding is most of the cost, and most file events are out of
        scope. Every ``"path"`` string from the event's body on (the file, a rename's two
        ends, a new file's directory, and any after it) and each directory joined with each
        ``"filename"`` is a candidate; the line is skipped only when no
        candidate is in scope. The event's own path is always among them, so this never
        skips what :meth:`verdict` would keep (``tests/test_extension_file.py``, a property
        test). Anything unexpected (no file event, a string it cannot read) is not skipped.
        The paths are read one at a time and the answer is "keep" at the first in scope or
        unreadable one (either way it is "keep": the rest need not be read), a new file's
        full path tried before its directory (the one likelier in scope).
        """
        if self._scope.everything:
            return False
        start = line.find('"event":{"')
        if start < 0:
            return False
        start += 10
        if line[start : line.find('"', start)] not in PREFILTERED:
            return False
        names = _strings(line, '"filename":"', start)
        if names is None:
            return False
        match = self._scope.match
        at = line.find('"path":"', start)  # from the event on: its own paths are there
        while at >= 0:
            read = _string(line, at + 8)
            if read is None:
                return False
            path, at = read
            for name in names:
                if match(join(path, name)):
                    return False
            if match(path):
                return False
            at = line.find('"path":"', at)
        return True


PREFILTERED = frozenset({"create", "close", "rename", "unlink", "open", "write", "deleteextattr"})
"""The eslogger events :meth:`FileScope.skip_line` may skip (launch items are never scoped)."""
_STRING_BODY = re.compile(r'((?:[^"\\]|\\.)*)"')


def _string(line: str, begin: int) -> tuple[str, int] | None:
    """The JSON string value whose text starts at ``begin`` in ``line``, decoded, and where
    the line goes on after its closing quote (None: a string that cannot be read). eslogger
    escapes ``/`` as ``\\/``; other escapes go through ``json``."""
    end = line.find('"', begin)  # the closing quote, unless a backslash comes before it
    if end < 0:
        return None
    if line[end - 1] == "\\":  # an escaped quote, or an escaped backslash: the full rule
        body = _STRING_BODY.match(line, begin)
        if body is None:
            return None
        end = body.end() - 1
    value = line[begin:end]
    if "\\" in value:
        plain = value.replace("\\/", "/")
        if "\\" in plain:
            try:
                plain = json.loads(f'"{value}"')
            except ValueError:
                return None
        value = plain
    return value, end + 1


def _strings(line: str, key: str, start: int = 0) -> list[str] | None:
    """Every JSON string value that follows ``key`` in ``line`` from ``start`` on, decoded
    (None: one that cannot be), read by :func:`_string`."""
    found: list[str] = []
    at = line.find(key, start)
    while at >= 0:
        read = _string(line, at + len(key))
        if read is None:
            return None
        found.append(read[0])
        at = line.find(key, read[1])
    return found


OWN = (
    "event.id",
    *FILE_FIELDS,
    *(f"Effective_process.{f}" for f in EFFECTIVE_FIELDS),
    "Persistence.path", "Persistence.name", "Persistence.executable",
)  # fmt: skip
"""The fields a file event has of its own, beside its actor's process fields (``rowparts``),
in the order :func:`file_own` gives their values."""
_NO_FILE = (None,) * len(FILE_FIELDS)
_NO_EFFECTIVE = (None,) * len(EFFECTIVE_FIELDS)
_NO_PERSISTENCE = (None,) * 3


def file_actor(
    event: FileEvent, tree: ProcessTree, user_names: Callable[[int], str] | None = None
) -> ProcEvent:
    """The acting process, its blanks filled from the tree (ESF's file messages carry no
    argv) and its user named; the tree is only read."""
    actor = event.actor
    proc = actor.proc
    known = tree.get(proc.ref)
    if known is not None:
        proc = fill(proc, known)
    proc = named(proc, user_names)
    return actor if proc is actor.proc else with_proc(actor, proc)


def file_kind(action: str, type_: str) -> dict[str, Any]:
    """``event.*`` of a file event of this action and type (Defend's names)."""
    return {"event": {"category": ["file"], "type": [type_], "action": action, "outcome": OUTCOME}}


def file_own(event: FileEvent, actor: ProcEvent, tree: ProcessTree) -> tuple[Any, ...]:
    """The file event's own fields, the values of :data:`OWN` (None where absent): its id,
    the file (or for a launch item ``Persistence``), and ``Effective_process``."""
    item = event.launch_item
    if item is None:
        file = file_values(event.path, event.original_path)
        persistence: tuple[str | None, ...] = _NO_PERSISTENCE
    else:
        file = _NO_FILE
        path, executable = item.path, item.executable
        persistence = (
            indexable(path), indexable(posixpath.basename(path)), indexable(executable)
        )  # fmt: skip
    responsible = actor.responsible
    effective = _NO_EFFECTIVE
    if responsible is not None and responsible.pid != actor.proc.pid:
        # Defend's top-level field holds what process.Ext.effective_parent holds
        effective = effective_values(responsible, tree.get(responsible))
    return (event.event_id, *file, *effective, *persistence)


def file_document(
    event: FileEvent,
    tree: ProcessTree,
    *,
    host_os_type: str = "macos",
    host_name: str = "",
    user_names: Callable[[int], str] | None = None,
) -> dict[str, Any]:
    """The ECS document of a file event (module docstring): its actor's process document with
    the file event's kind and own fields (the rows the pipeline serves are made of the same
    parts, ``rowparts.ActorRows``); the tree is only read."""
    actor = file_actor(event, tree, user_names)
    kind = file_kind(event.action, event.type)
    own = file_own(event, actor, tree)
    return actor_document(
        actor, tree, kind, OWN, own, host_os_type=host_os_type, host_name=host_name
    )
