"""``ecsquery import`` over every Elastic multi-event rule that applies to Macs (53 files, see
tests/fixtures/SOURCES.md): how many compile per class, and that every refusal names a reason.

The counts are the issue's before/after table; a change in them is a change in what runs.
"""

from __future__ import annotations

import json
import tomllib
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

from ecsquery.errors import RefusedRule, RuleLoadError
from ecsquery.extension.ecs import iso_timestamp
from ecsquery.rules.compile import compile_rule
from ecsquery.rules.importer import import_rules
from ecsquery.rules.load import load_rule
from ecsquery.rules.model import Rule, ThresholdParams
from ecsquery.rules.render import render_packs
from ecsquery.rules.sql.multi import compile_multi, multi_kind
from multi_support import NOW, Table

CORPUS = Path(__file__).parent / "fixtures" / "elastic-rules-multi"
PATHS = sorted(CORPUS.glob("*.toml"))


EXPECTED_COMPILED = {"sequence": 15, "threshold": 1, "new_terms": 10, "esql": 4}
"""Before this work every one of the 53 was refused by class; file and network steps and
new_terms fields compile on their tables since the several-tables schema (#15)."""
COMPILED_SLUGS = [
    "collection_discovery_output_written_to_suspicious_file",
    "collection_sensitive_file_access_followed_by_compression",
    "command_and_control_perl_outbound_network_connection",
    "credential_access_grep_recursive_credential_discovery",
    "credential_access_high_volume_of_pbpaste",
    "credential_access_multi_cloud_cli_token_harvesting",
    "credential_access_potential_macos_ssh_bruteforce",
    "credential_access_python_sensitive_file_access_first_occurrence",
    "credential_access_suspicious_instance_metadata_service_api_request",
    "defense_evasion_encoding_rot13_python_script",
    "defense_evasion_genai_config_modification",
    "defense_evasion_genai_process_encoding_prior_to_network_activity",
    "defense_evasion_whitespace_padding_command_line",
    "discovery_of_accounts_or_groups_via_builtin_tools",
    "discovery_process_discovery_via_builtin_tools",
    "discovery_system_network_connections",
    "execution_aws_ssm_sendcommand_with_command_parameters",
    "execution_git_exploit_cve_2025_48384",
    "execution_installer_package_spawned_network_event",
    "execution_nodejs_pre_or_post_install_script_execution",
    "execution_python_shell_spawn_first_occurrence",
    "execution_script_via_automator_workflows",
    "execution_scripting_osascript_exec_followed_by_netcon",
    "execution_shell_execution_via_apple_scripting",
    "execution_suspicious_java_netcon_childproc",
    "execution_suspicious_python_command_execution",
    "persistence_creation_change_launch_agents_file",
    "persistence_curl_execution_via_shell_profile",
    "persistence_python_launch_agent_or_daemon_creation_first_occurrence",
    "persistence_ssh_authorized_keys_modification",
]


def rule_class(path: Path) -> str:
    rule = tomllib.loads(path.read_text("utf-8"))["rule"]
    if rule["type"] == "eql":
        return "sequence" if rule["query"].lstrip().startswith("sequence") else "eql"
    return str(rule["type"])


def test_corpus_classes() -> None:
    assert Counter(rule_class(p) for p in PATHS) == {
        "sequence": 28,
        "new_terms": 15,
        "esql": 9,
        "threshold": 1,
    }


def test_import_counts_per_class() -> None:
    results = import_rules(PATHS, None)
    compiled = Counter(rule_class(r.source) for r in results if r.status == "compiled")
    assert dict(compiled) == EXPECTED_COMPILED
    assert sorted(r.slug for r in results if r.status == "compiled") == COMPILED_SLUGS
    assert all(r.status in ("compiled", "refused") for r in results), [
        (r.slug, r.reason) for r in results if r.status not in ("compiled", "refused")
    ]
    assert all(r.reason for r in results if r.status == "refused")


REFUSED_FOR = {
    "initial_access_file_upload_followed_by_get_request": (
        "field 'data_stream.dataset' has no column in the ECS network-events table: a rule"
        " naming its data stream reads several integrations' (network_traffic.http"
    ),  # agent.id, its join key, is one value per host like host.id
    "command_and_control_aws_s3_connection_via_script": (
        "'destination.domain' has no column in the table: no osquery table gives DNS names"
    ),  # its FROM logs-endpoint.events.network-* is served
    "command_and_control_curl_activity_llm_triage": "unsupported COMPLETION: the rows it keeps",
    "command_and_control_wget_activity_llm_triage": "unsupported COMPLETION: the rows it keeps",
}
"""The refusals this session sharpened: each names what no change to the compiler could give."""


@pytest.mark.parametrize("slug", sorted(REFUSED_FOR))
def test_refusals_name_the_missing_source(slug: str) -> None:
    [result] = import_rules([CORPUS / f"{slug}.toml"], None)
    assert result.status == "refused" and REFUSED_FOR[slug] in result.reason, result.reason


def test_compiled_sequences_run_on_osquery_sqlite() -> None:
    """Every compiled corpus sequence is valid SQL on the engine osquery embeds, and the pbpaste
    rule (``with runs=5`` within 1 minute) fires once for five pbpaste execs, not for four."""
    table = Table()
    compiled = {}
    for path in PATHS:
        data = tomllib.loads(path.read_text("utf-8"))["rule"]
        if multi_kind(data) == "sequence":
            rule = Rule.from_mapping(data, slug=path.stem)
            try:
                compiled[path.stem] = compile_multi(rule, data)
            except RefusedRule:
                continue
    assert len(compiled) == 15
    for c in compiled.values():
        assert table.run(c.sql, [], "osquery") == []

    def pbpaste(i: int) -> dict[str, Any]:
        ms = (NOW - 100) * 1000 + i * 10_000
        return {
            "@timestamp": iso_timestamp(ms / 1000),
            "time": ms // 1000,
            "event": {"id": f"p{i}", "category": ["process"], "type": ["start"], "action": "exec"},
            "host": {"os": {"type": "macos"}},
            "process": {"name": "pbpaste", "entity_id": f"E{i}"},
        }

    sql = compiled["credential_access_high_volume_of_pbpaste"].sql
    five = table.run(sql, [pbpaste(i) for i in range(5)], "osquery")
    assert [(r["event_id"], r["sequence_step"]) for r in five] == [
        (f"p{i}", i + 1) for i in range(5)
    ]
    assert table.run(sql, [pbpaste(i) for i in range(4)], "osquery") == []
    spread = [pbpaste(i) for i in (0, 1, 2, 3, 7)]  # the fifth is 70 s after the first
    assert table.run(sql, spread, "osquery") == []


def test_imported_yaml_loads_back_and_compiles_to_the_same_sql(tmp_path: Path) -> None:
    """Every compiled class is written as YAML (the model carries ``threshold`` and
    ``new_terms``), loads back as the same rule, and ``compile_rule`` routes it to the same
    multi-event SQL as the TOML; the packs render that SQL verbatim in every format."""
    results = import_rules(PATHS, tmp_path)
    written = {r.slug: r for r in results if r.status == "compiled"}
    assert sorted(written) == COMPILED_SLUGS
    assert sorted(p.stem for p in tmp_path.iterdir()) == COMPILED_SLUGS
    compiled = []
    for slug, result in sorted(written.items()):
        assert result.written is not None and result.rule is not None
        data = tomllib.loads(result.source.read_text("utf-8"))["rule"]
        loaded = load_rule(result.written)
        assert loaded == result.rule
        assert (loaded.threshold is not None, loaded.new_terms is not None) == (
            data["type"] == "threshold",
            data["type"] == "new_terms",
        )
        again = compile_rule(loaded)
        assert again.sql == compile_multi(result.rule, data).sql, slug
        compiled.append(again)
    sequence = next(c for c in compiled if c.rule.slug == "execution_git_exploit_cve_2025_48384")
    assert "WITH RECURSIVE" in sequence.sql
    threshold = next(c for c in compiled if c.rule.type == "threshold")
    assert "HAVING count(*) >= 20" in threshold.sql
    files = {f.path.as_posix(): f.text for f in render_packs(compiled)}
    osquery = json.loads(files["osquery/ecsquery.conf"])["queries"]
    fleet = [d for d in yaml.safe_load_all(files["fleet/ecsquery.yml"]) if d]
    kibana = json.loads(files["kibana/ecsquery.json"])["queries"]
    for c in compiled:
        assert osquery[c.rule.slug]["query"] == c.sql
        assert kibana[c.rule.slug]["query"] == c.sql
    fleet_sql = {d["spec"]["name"]: d["spec"]["query"] for d in fleet if d["kind"] == "query"}
    assert sorted(fleet_sql.values()) == sorted(c.sql for c in compiled)


def test_threshold_and_new_terms_yaml_is_not_a_plain_query(tmp_path: Path) -> None:
    """Before the model carried them, a hand-written threshold rule compiled as its plain
    query: now it is the GROUP BY, and a threshold rule without its table is a load error."""
    data = tomllib.loads(
        (CORPUS / "credential_access_potential_macos_ssh_bruteforce.toml").read_text("utf-8")
    )["rule"]
    rule = Rule.from_mapping(data, slug="t")
    assert rule.threshold == ThresholdParams(("host.id",), 20)
    assert compile_rule(rule).sql == compile_multi(rule, data).sql
    plain = {k: v for k, v in data.items() if k != "threshold"}
    with pytest.raises(RuleLoadError, match=r"missing \[rule.threshold\]"):
        Rule.from_mapping(plain, slug="t")


def test_window_covers_interval_plus_maxspan() -> None:
    from ecsquery.rules.sql.multi import window_seconds

    data = tomllib.loads((CORPUS / "credential_access_high_volume_of_pbpaste.toml").read_text())[
        "rule"
    ]
    rule = Rule.from_mapping(data, slug="p")
    assert (rule.lookback_seconds, rule.interval_seconds) == (540, 300)
    assert window_seconds(rule) == 540  # from=now-9m already covers 5 m + maxspan 1 m
    short = Rule.from_mapping({**data, "from": "now-5m"}, slug="p")
    assert window_seconds(short) == 360


def test_rules_window_is_the_longest_rule_need() -> None:
    """The window the loaded rules need is the largest ``window_seconds``: 7,140 s for the
    compiled corpus (three new_terms rules run hourly over ``from`` = now-119m, beyond the
    shipped 900 s window), 540 s for its sequences, 600 s once one sequence is 5 m + 5 m."""
    from ecsquery.rules.sql.multi import rules_window

    rules = [r.rule for r in import_rules(PATHS, None) if r.rule is not None]
    assert rules_window([]) == (0, None)
    needed, longest = rules_window(rules)
    assert (needed, longest and longest.slug) == (
        7140,
        "discovery_of_accounts_or_groups_via_builtin_tools",
    )
    assert sum(r.lookback_seconds == 7140 for r in rules) == 3
    sequences = [r for r in rules if multi_kind({"type": r.type, "query": r.query}) == "sequence"]
    assert len(sequences) == 15 and rules_window(sequences)[0] == 540
    data = tomllib.loads((CORPUS / "execution_git_exploit_cve_2025_48384.toml").read_text())["rule"]
    wide = Rule.from_mapping(
        {**data, "from": "now-6m", "query": data["query"].replace("maxspan=1m", "maxspan=5m")},
        slug="git_5m",
    )
    assert rules_window([*sequences, wide]) == (600, wide)


def test_bench_multi_runs_every_compiled_sequence_threshold_and_esql_rule() -> None:
    """``make bench``'s multi-event part times these 10 rules; on its event mix (here 8,000
    rows, deterministic) five of them fire, sequences and threshold among them."""
    from ecsquery.bench import multi
    from ecsquery.schema import FieldTable

    rules = multi.corpus_rules()
    assert sorted(r.slug for r in rules) == [
        "credential_access_grep_recursive_credential_discovery",
        "credential_access_high_volume_of_pbpaste",
        "credential_access_multi_cloud_cli_token_harvesting",
        "credential_access_potential_macos_ssh_bruteforce",
        "defense_evasion_whitespace_padding_command_line",
        "execution_git_exploit_cve_2025_48384",
        "execution_nodejs_pre_or_post_install_script_execution",
        "execution_shell_execution_via_apple_scripting",
        "execution_suspicious_python_command_execution",
        "persistence_curl_execution_via_shell_profile",
    ]
    conn = multi.database(multi.docs(8000), FieldTable())
    hits = {r.slug: len(conn.execute(compile_rule(r).sql).fetchall()) for r in rules}
    assert {slug: n for slug, n in hits.items() if n} == {
        "credential_access_high_volume_of_pbpaste": 85,  # step rows of runs=5 sequences
        "credential_access_potential_macos_ssh_bruteforce": 1,  # one host bucket >= 20
        "defense_evasion_whitespace_padding_command_line": 84,
        "execution_git_exploit_cve_2025_48384": 2,  # one two-step sequence
        "execution_nodejs_pre_or_post_install_script_execution": 120,
    }
