"""EQL ``any where``: one ``UNION ALL`` branch per table the condition can be true on.

The property test against the reference evaluator is ``test_semantics.py``
(``impact_hosts_file_modified`` among its table rules: generated events routed to the table of
their category); these tests pin the branches kept and dropped, and run the corpus rule through
``ecsquery replay`` (pack SQL, result log, alert reader) with a hit and a near miss on each
of its two tables.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from ast_support import eql_rule
from ecsquery import osquery_sqlite
from ecsquery.errors import UnmappedField, UnsupportedConstruct
from ecsquery.rules.compile import compile_rule
from ecsquery.rules.kibana import tables_read
from ecsquery.rules.sql.pushdown import without_hits_only
from ecsquery.rules.sql.union import UNION
from test_extension_file import V9_EXEC, esfile, message
from test_extension_file_columns import corpus_rule, replay_lines

MAC_RULES = Path(__file__).parent / "fixtures" / "elastic-rules-mac"
NOW = 1_700_000_000


def tables(query: str) -> list[str]:
    return [t.name for t in tables_read(compile_rule(eql_rule(query, "any")).sql)]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ('any where file.path == "/etc/hosts"', ["ecs_file_events"]),
        ('any where destination.port == 22', ["ecs_network_events"]),
        ('any where file.path == "/etc/hosts" or destination.port == 22',
         ["ecs_file_events", "ecs_network_events"]),
        # a missing field makes `not` true: every table keeps its branch
        ('any where not file.path == "/etc/hosts"',
         ["ecs_process_events", "ecs_file_events", "ecs_network_events"]),
        ('any where process.name == "vim"',
         ["ecs_process_events", "ecs_file_events", "ecs_network_events"]),
    ],
)  # fmt: skip
def test_branches_are_the_tables_the_condition_can_be_true_on(
    query: str, expected: list[str]
) -> None:
    assert tables(query) == expected


def test_a_condition_no_table_can_satisfy_is_refused() -> None:
    with pytest.raises(UnsupportedConstruct, match="no table can satisfy"):
        compile_rule(eql_rule('any where file.path == "/a" and destination.port == 22', "x"))
    with pytest.raises(UnmappedField, match=r"dns\.question\.name"):
        compile_rule(eql_rule('any where dns.question.name == "a"', "x"))


def test_every_branch_has_the_same_columns_and_its_own_hits_only() -> None:
    compiled = compile_rule(eql_rule('any where not file.path == "/etc/hosts"', "any"))
    conn = osquery_sqlite.connect(now=NOW)
    osquery_sqlite.insert_routed(conn, [
        {"time": str(NOW - 5), "event_id": "p", "event_category": '["process"]'},
        {"time": str(NOW - 5), "event_id": "f", "event_category": '["file"]',
         "file_path": "/tmp/x"},
        {"time": str(NOW - 5), "event_id": "g", "event_category": '["file"]',
         "file_path": "/etc/hosts"},  # the near miss
        {"time": str(NOW - 5), "event_id": "n", "event_category": '["network"]'},
    ])  # fmt: skip
    cursor = conn.execute(compiled.sql)
    names = [d[0] for d in cursor.description]
    got = sorted((r[names.index("event_id")], r[names.index("file_path")]) for r in cursor)
    assert got == [("f", "/tmp/x"), ("n", None), ("p", None)]
    assert compiled.sql.count(UNION) == 2 and compiled.sql.count("time IN (") == 3
    plain = without_hits_only(compiled.sql)
    assert plain.count(UNION) == 2 and "time IN (" not in plain


def vim(path: str, seq: int) -> dict[str, Any]:
    """An exec of ``vim <path>`` (the real eslogger exec sample, its target and argv changed)."""
    msg = copy.deepcopy(V9_EXEC)
    msg["seq_num"] = msg["global_seq_num"] = seq
    msg["event"]["exec"]["target"]["executable"]["path"] = "/usr/bin/vim"
    msg["event"]["exec"]["args"] = ["vim", path]
    return msg


def test_hosts_file_rule_alerts_from_both_tables_through_replay(tmp_path: Path) -> None:
    """``impact_hosts_file_modified``: a write of /private/etc/hosts (file table) and ``vim
    /etc/hosts`` (process table) alert; a rename of the hosts file and ``vim /etc/passwd`` (the
    near misses) do not. Each alert carries the rule's MITRE block."""
    written = message("close", {"modified": True, "target": esfile("/private/etc/hosts")}, 20)
    renamed = message("rename", {"source": esfile("/private/etc/hosts.new"),
                                 "destination_type": 0,
                                 "destination": {"existing_file": esfile("/private/etc/hosts")}},
                      21)  # fmt: skip
    lines = [written, renamed, vim("/etc/hosts", 30), vim("/etc/passwd", 31)]
    result = replay_lines(tmp_path, lines, [corpus_rule("impact_hosts_file_modified")])
    got = sorted(
        (a["event"]["category"], a.get("file", {}).get("path"), a["process"].get("args"))
        for a in result.alerts
    )
    assert got == [
        (["file"], "/private/etc/hosts", None),
        (["process"], None, ["vim", "/etc/hosts"]),
    ]
    for alert in result.alerts:  # ECS's threat fields, arrays of the rule's one mapping
        threat = alert["threat"]
        assert (threat["tactic"]["name"], threat["technique"]["id"],
                threat["technique"]["subtechnique"]["id"]) == (
            ["Impact"], ["T1565"], ["T1565.001"])  # fmt: skip


def test_a_lookup_in_every_branch_gets_one_cte_each() -> None:
    """``hits_only``'s keyed form per branch (``hits_<category>`` in one ``WITH``): each
    ``signature`` lookup is evaluated once per branch, and the rows are the plain query's."""
    query = 'any where process.code_signature.subject_name == "Software Signing"'
    compiled = compile_rule(eql_rule(query + ' and not file.path == "/x"', "u"))
    plain = without_hits_only(compiled.sql)
    assert compiled.sql.startswith("WITH hits_process AS MATERIALIZED (\n")
    assert compiled.sql.count("FROM signature") == plain.count("FROM signature") == 3
    assert plain.count(UNION) == 2 and not plain.startswith("WITH")
    conn = osquery_sqlite.connect(now=NOW)
    osquery_sqlite.insert_routed(conn, [
        {"time": str(NOW - 5), "event_id": "p", "event_category": '["process"]',
         "process_executable": "/bin/ls"},
        {"time": str(NOW - 5), "event_id": "f", "event_category": '["file"]',
         "process_executable": "/bin/ls", "file_path": "/x"},  # near miss: the path
        {"time": str(NOW - 5), "event_id": "g", "event_category": '["file"]',
         "process_executable": "/bin/ls", "file_path": "/y"},
        {"time": str(NOW - 5), "event_id": "n", "event_category": '["network"]',
         "process_executable": "/bin/cat"},  # near miss: another signer
    ])  # fmt: skip
    osquery_sqlite.insert_signature(conn, "/bin/ls", "Software Signing")
    osquery_sqlite.insert_signature(conn, "/bin/cat", "Developer ID Application: X (T)")
    for sql in (compiled.sql, plain):
        cursor = conn.execute(sql)
        index = [d[0] for d in cursor.description].index("event_id")
        assert sorted(r[index] for r in cursor) == ["g", "p"]
