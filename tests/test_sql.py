"""Golden SQL: rule text in, exact SQL out; every generated statement runs in the stand-in."""

from __future__ import annotations

from pathlib import Path

import pytest

from ecsquery import osquery_sqlite
from ecsquery.errors import UnmappedField, UnsupportedConstruct
from ecsquery.rows import to_row
from ecsquery.rules.compile import (
    CompiledRule,
    compile_query,
    compile_rule,
    compile_rules,
    compile_where,
)
from ecsquery.rules.lang.ast import Equals, FieldRef, Match, Pattern, Query, Regex, Wild
from ecsquery.rules.load import load_rule
from ecsquery.rules.model import Rule
from ecsquery.rules.reference import matches
from ecsquery.schema import FieldTable

FIXTURES = Path(__file__).parent / "fixtures" / "elastic-rules"
FIELDS = FieldTable()

# The seed rules' query text, verbatim (long lines included).
SEED_KQL = "\n".join(
    (
        "event.category:process and host.os.type:macos and event.type:(start or process_started)"
        " and",
        'process.args:("/private/var/db/SystemKey" or "/var/db/SystemKey") and',
        "not process.Ext.effective_parent.executable : "
        '"/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"',
        "",
    )
)
SEED_EQL = (
    'process where host.os.type == "macos" and event.type in ("start", "process_started") '
    'and process.args : "dump-keychain" and process.args : "-d"'
)

COLUMNS = """SELECT
  time,
  timestamp,
  event_category,
  event_type,
  event_action,
  event_id,
  host_os_type,
  host_name,
  process_pid,
  process_entity_id,
  process_executable,
  process_name,
  process_args,
  process_args_count,
  process_command_line,
  process_working_directory,
  process_exit_code,
  process_code_signature_exists,
  process_code_signature_trusted,
  process_code_signature_signing_id,
  process_code_signature_team_id,
  process_parent_pid,
  process_parent_entity_id,
  process_parent_executable,
  process_parent_name,
  process_parent_args,
  process_parent_command_line,
  process_parent_code_signature_exists,
  process_parent_code_signature_trusted,
  process_effective_parent_pid,
  process_effective_parent_entity_id,
  process_effective_parent_executable,
  process_effective_parent_name,
  user_id,
  user_name,
  user_effective_id,
  group_id
FROM ecs_process_events
WHERE time >= (SELECT unix_time FROM time) - 540
"""

SEED_KQL_SQL = COLUMNS + (
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')\n"
    "  AND host_os_type = 'macos'\n"
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, ''))"
    " WHERE value IN ('start', 'process_started'))\n"
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, ''))"
    " WHERE value IN ('/private/var/db/SystemKey', '/var/db/SystemKey'))\n"
    "  AND NOT coalesce(process_effective_parent_executable ="
    " '/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint', 0)"
)

SEED_EQL_SQL = COLUMNS + (
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'process')\n"
    "  AND host_os_type = 'macos'\n"
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, ''))"
    " WHERE value IN ('start', 'process_started'))\n"
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, ''))"
    " WHERE value GLOB '[dD][uU][mM][pP]-[kK][eE][yY][cC][hH][aA][iI][nN]')\n"
    "  AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[dD]')"
)


def rule(query: str, language: str = "eql", rule_id: str = "r1") -> Rule:
    return Rule(
        slug="t",
        rule_id=rule_id,
        name="t",
        description="",
        type="eql" if language == "eql" else "query",
        language=language,
        query=query,
        severity="high",
        risk_score=73,
        from_="now-9m",
    )


def runs(compiled: CompiledRule) -> None:
    conn = osquery_sqlite.connect(now=1000)
    conn.execute(compiled.sql).fetchall()


@pytest.mark.parametrize(
    ("query", "language", "expected"),
    [(SEED_KQL, "kuery", SEED_KQL_SQL), (SEED_EQL, "eql", SEED_EQL_SQL)],
    ids=["seed-000-kql", "seed-001-eql"],
)
def test_seed_rules_golden_sql(query: str, language: str, expected: str) -> None:
    compiled = compile_rule(rule(query, language))
    assert compiled.sql == expected
    runs(compiled)


GOLDEN_WHERE = {
    "credential_access_dumping_keychain_security.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]-[kK][e"
        "E][yY][cC][hH][aA][iI][nN]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_"
        "args, '')) WHERE value = '-d')"
    ),
    "credential_access_systemkey_dumping.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value IN ('/private/var/db/SystemKe"
        "y', '/var/db/SystemKey')) AND NOT coalesce(process_effective_parent_executable ="
        " '/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"
        "', 0)"
    ),
    "history/credential_access_dumping_keychain_security.4312d8c958.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN "
        "('start', 'process_started')) AND EXISTS (SELECT 1 FROM json_each(NULLIF(process"
        "_args, '')) WHERE value GLOB '[dD][uU][mM][pP]-[kK][eE][yY][cC][hH][aA][iI][nN]'"
        ") AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB"
        " '-[dD]')"
    ),
    "history/credential_access_dumping_keychain_security.ab89dfb98d.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value GLOB '[dD][uU][mM][pP]-[kK][e"
        "E][yY][cC][hH][aA][iI][nN]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_"
        "args, '')) WHERE value GLOB '-[dD]')"
    ),
    "history/credential_access_dumping_keychain_security.c18c5a493a.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN "
        "('start', 'process_started')) AND EXISTS (SELECT 1 FROM json_each(NULLIF(process"
        "_args, '')) WHERE value GLOB '[dD][uU][mM][pP]-[kK][eE][yY][cC][hH][aA][iI][nN]'"
        ") AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB"
        " '-[dD]')"
    ),
    "history/credential_access_systemkey_dumping.3fc34b86f2.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN "
        "('start', 'process_started')) AND EXISTS (SELECT 1 FROM json_each(NULLIF(process"
        "_args, '')) WHERE value = '/private/var/db/SystemKey')"
    ),
    "history/credential_access_systemkey_dumping.4312d8c958.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN "
        "('start', 'process_started')) AND EXISTS (SELECT 1 FROM json_each(NULLIF(process"
        "_args, '')) WHERE value IN ('/private/var/db/SystemKey', '/var/db/SystemKey'))"
    ),
    "history/credential_access_systemkey_dumping.458e67918a.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value IN ('/private/var/db/SystemKe"
        "y', '/var/db/SystemKey'))"
    ),
    "history/credential_access_systemkey_dumping.4ef72457d3.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value IN ('/private/var/db/SystemKe"
        "y', '/var/db/SystemKey')) AND NOT coalesce(process_effective_parent_executable ="
        " '/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"
        "', 0)"
    ),
    "history/credential_access_systemkey_dumping.fb32679921.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND EXISTS (SELECT 1 FROM json_each(NULLIF(event_type, '')) WHERE value IN "
        "('start', 'process_started')) AND process_name = 'hexdump' AND EXISTS (SELECT 1 "
        "FROM json_each(NULLIF(process_args, '')) WHERE value = '/private/var/db/SystemKe"
        "y')"
    ),
    "history/credential_access_systemkey_dumping.fe8c81d762.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value IN ('/private/var/db/SystemKe"
        "y', '/var/db/SystemKey')) AND NOT coalesce(process_effective_parent_executable ="
        " '/Library/Elastic/Endpoint/elastic-endpoint.app/Contents/MacOS/elastic-endpoint"
        "', 0)"
    ),
    "macos-process/credential_access_credentials_keychains.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND event_action = 'exe"
        "c' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLO"
        "B '/Users/*/Library/Keychains/*' OR value GLOB '/Library/Keychains/*' OR value G"
        "LOB 'login.keychain-db' OR value GLOB 'login.keychain') AND (NULLIF(process_code"
        "_signature_trusted, '') = 0 OR NULLIF(process_code_signature_exists, '') = 0 OR "
        "process_name IN ('bash', 'sh', 'zsh', 'osascript', 'cat', 'echo', 'cp') AND (NUL"
        "LIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_code"
        "_signature_exists, '') = 0))"
    ),
    "macos-process/credential_access_dumping_hashes_bi_cmds.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND (process_name = 'de"
        "faults' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE valu"
        "e GLOB '[Ss][hH][aA][dD][oO][wW][Hh][aA][sS][hH][Dd][aA][tT][aA]') OR process_na"
        "me = 'mkpassdb' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WH"
        "ERE value = '-dump') OR process_name = 'dscl' AND EXISTS (SELECT 1 FROM json_eac"
        "h(NULLIF(process_args, '')) WHERE value GLOB '[Ss][hH][aA][dD][oO][wW][Hh][aA][s"
        "S][hH][Dd][aA][tT][aA]') OR process_name IN ('plutil', 'cat', 'strings', 'xxd', "
        "'head') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE valu"
        "e GLOB '/var/db/dslocal/nodes/Default/users/*.plist'))"
    ),
    "macos-process/credential_access_kerberosdump_kcc.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND process_name = 'kcc"
        "' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB"
        " '[cC][oO][pP][yY]_[cC][rR][eE][dD]_[cC][aA][cC][hH][eE]')"
    ),
    "macos-process/credential_access_keychain_pwd_retrieval_security_cmd.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND event_action = 'exec' AND process_name = 'se"
        "curity' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE valu"
        "e IN ('-wa', '-ga')) AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, ''"
        ")) WHERE value GLOB '[fF][iI][nN][dD]-[gG][eE][nN][eE][rR][iI][cC]-[pP][aA][sS]["
        "sS][wW][oO][rR][dD]' OR value GLOB '[fF][iI][nN][dD]-[iI][nN][tT][eE][rR][nN][eE"
        "][tT]-[pP][aA][sS][sS][wW][oO][rR][dD]') AND (process_command_line GLOB '*[Cc][h"
        "H][rR][oO][mM][eE]*' OR process_command_line GLOB '*[Cc][hH][rR][oO][mM][iI][uU]"
        "[mM]*' OR process_command_line GLOB '*[Oo][pP][eE][rR][aA]*' OR process_command_"
        "line GLOB '*[Ss][aA][fF][aA][rR][iI]*' OR process_command_line GLOB '*[Bb][rR][a"
        "A][vV][eE]*' OR process_command_line GLOB '*[Mm][iI][cC][rR][oO][sS][oO][fF][tT]"
        " [Ee][dD][gG][eE]*' OR process_command_line GLOB '*[Ff][iI][rR][eE][fF][oO][xX]*"
        "') AND NOT coalesce(process_parent_executable GLOB '/Applications/Keeper Passwor"
        "d Manager.app/Contents/Frameworks/Keeper Password Manager Helper*/Contents/MacOS"
        "/Keeper Password Manager Helper*', 0)"
    ),
    "macos-process/defense_evasion_attempt_to_disable_gatekeeper.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND process_name = 'spc"
        "tl' AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GL"
        "OB '--[mM][aA][sS][tT][eE][rR]-[dD][iI][sS][aA][bB][lL][eE]')"
    ),
    "macos-process/discovery_external_ip_address_discovery_via_curl.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value = 'start') AND event_action = 'exec' AND (process_parent"
        "_executable GLOB '/Applications/*' OR process_parent_executable GLOB '/Volumes/*"
        "' OR process_parent_executable GLOB '/private/var/folders/*' OR process_parent_n"
        "ame IN ('bash', 'sh', 'zsh') AND process_parent_command_line GLOB '*http*' OR NU"
        "LLIF(process_parent_code_signature_trusted, '') = 0 OR NULLIF(process_parent_cod"
        "e_signature_exists, '') = 0 OR NULLIF(process_code_signature_exists, '') = 0) AN"
        "D process_name IN ('curl', 'nscurl') AND NULLIF(process_args_count, '') <= 5 AND"
        " (process_command_line GLOB '*ip-api.com*' OR process_command_line GLOB '*ipwho."
        "is*' OR process_command_line GLOB '*checkip.dyndns.org*' OR process_command_line"
        " GLOB '*api.ipify.org*' OR process_command_line GLOB '*whatismyip.akamai.com*' O"
        "R process_command_line GLOB '*ifcfg.me*' OR process_command_line GLOB '*ifconfig"
        ".me*' OR process_command_line GLOB '*ident.me*' OR process_command_line GLOB '*i"
        "canhazip.com*' OR process_command_line GLOB '*ipecho.net*' OR process_command_li"
        "ne GLOB '*api.myip.com*' OR process_command_line GLOB '*checkip.amazonaws.com*' "
        "OR process_command_line GLOB '*wtfismyip.com*' OR process_command_line GLOB '*ip"
        "logger.*' OR process_command_line GLOB '*freegeoip.net*' OR process_command_line"
        " GLOB '*ipinfo.io*' OR process_command_line GLOB '*geoplugin.net*' OR process_co"
        "mmand_line GLOB '*httpbin.org*' OR process_command_line GLOB '*myip.opendns.com*"
        "')"
    ),
    "macos-process/discovery_suspicious_sip_check.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value = 'start') AND event_action = 'exec' AND process_command"
        "_line GLOB '*csrutil*status*' AND process_command_line GLOB '*enabled*' AND (pro"
        "cess_parent_executable GLOB '/*.app/*' OR process_parent_executable GLOB '/Appli"
        "cations/*.app/*' OR process_parent_executable GLOB '/Volumes/*.app/*') AND NOT c"
        "oalesce(process_parent_executable = '/Library/Application Support/Mosyle/MosyleM"
        "DM.app/Contents/MacOS/MosyleMDM', 0)"
    ),
    "macos-process/execution_initial_access_suspicious_browser_childproc.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND (process_parent_nam"
        "e GLOB '[Gg][oO][oO][gG][lL][eE] [Cc][hH][rR][oO][mM][eE]' OR process_parent_nam"
        "e GLOB '[Gg][oO][oO][gG][lL][eE] [Cc][hH][rR][oO][mM][eE] [Hh][eE][lL][pP][eE][r"
        "R]*' OR process_parent_name GLOB '[fF][iI][rR][eE][fF][oO][xX]' OR process_paren"
        "t_name GLOB '[Oo][pP][eE][rR][aA]' OR process_parent_name GLOB '[Ss][aA][fF][aA]"
        "[rR][iI]' OR process_parent_name GLOB '[cC][oO][mM].[aA][pP][pP][lL][eE].[Ww][eE"
        "][bB][Kk][iI][tT].[Ww][eE][bB][Cc][oO][nN][tT][eE][nN][tT]' OR process_parent_na"
        "me GLOB '[Mm][iI][cC][rR][oO][sS][oO][fF][tT] [Ee][dD][gG][eE]') AND ((process_n"
        "ame GLOB '[sS][hH]' OR process_name GLOB '[bB][aA][sS][hH]' OR process_name GLOB"
        " '[dD][aA][sS][hH]' OR process_name GLOB '[kK][sS][hH]' OR process_name GLOB '[t"
        "T][cC][sS][hH]' OR process_name GLOB '[zZ][sS][hH]') AND (process_command_line G"
        "LOB '*[cC][uU][rR][lL]*' OR process_command_line GLOB '*[nN][sS][cC][uU][rR][lL]"
        "*' OR process_command_line GLOB '*[wW][gG][eE][tT]*' OR process_command_line GLO"
        "B '*[wW][hH][oO][aA][mM][iI]*' OR process_command_line GLOB '*[pP][wW][dD]*') OR"
        " process_name GLOB '[cC][uU][rR][lL]' OR process_name GLOB '[wW][gG][eE][tT]' OR"
        " process_name GLOB '[pP][yY][tT][hH][oO][nN]*' OR process_name GLOB '[pP][eE][rR"
        "][lL]*' OR process_name GLOB '[pP][hH][pP]*' OR process_name GLOB '[oO][sS][aA]["
        "sS][cC][rR][iI][pP][tT]' OR process_name GLOB '[pP][wW][sS][hH]') AND NULLIF(pro"
        "cess_command_line, '') IS NOT NULL"
    ),
    "macos-process/lateral_movement_credential_access_kerberos_bifrostconsole.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND EXISTS (SELECT 1 FR"
        "OM json_each(NULLIF(process_args, '')) WHERE value GLOB '-[aA][cC][tT][iI][oO][n"
        "N]') AND (EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value "
        "GLOB '-[kK][eE][rR][bB][eE][rR][oO][aA][sS][tT]' OR value GLOB '[aA][sS][kK][hH]"
        "[aA][sS][hH]' OR value GLOB '[aA][sS][kK][tT][gG][sS]' OR value GLOB '[aA][sS][k"
        "K][tT][gG][tT]' OR value GLOB '[sS]4[uU]') OR EXISTS (SELECT 1 FROM json_each(NU"
        "LLIF(process_args, '')) WHERE value GLOB '-[tT][iI][cC][kK][eE][tT]') AND EXISTS"
        " (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[pP][tT][t"
        "T]') OR EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GL"
        "OB '[dD][uU][mM][pP]') AND EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, "
        "'')) WHERE value GLOB '[tT][iI][cC][kK][eE][tT][sS]' OR value GLOB '[kK][eE][yY]"
        "[tT][aA][bB]'))"
    ),
    "macos-process/persistence_enable_root_account.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND process_name = 'dse"
        "nableroot' AND NOT EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHE"
        "RE value = '-d')"
    ),
    "macos-process/persistence_login_logout_hooks_defaults.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value = 'start') AND process_name = 'defaults' AND EXISTS (SEL"
        "ECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value = 'write') AND EXISTS"
        " (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE value GLOB '[Ll][oO][g"
        "G][iI][nN][Hh][oO][oO][kK]' OR value GLOB '[Ll][oO][gG][oO][uU][tT][Hh][oO][oO]["
        "kK]') AND NOT EXISTS (SELECT 1 FROM json_each(NULLIF(process_args, '')) WHERE va"
        "lue GLOB '[Ss][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE]"
        "[mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kK][Ss][cC][rR][iI][pP][tT][sS]"
        "/[lL][oO][gG][oO][uU][tT][hH][oO][oO][kK].[sS][hH]' OR value GLOB '[Ss][uU][pP]["
        "pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR"
        "][aA][mM][eE][wW][oO][rR][kK][Ss][cC][rR][iI][pP][tT][sS]/[lL][oO][gG][iI][nN][h"
        "H][oO][oO][kK].[sS][hH]' OR value GLOB '/[Ll][iI][bB][rR][aA][rR][yY]/[Aa][pP][p"
        "P][lL][iI][cC][aA][tT][iI][oO][nN] [Ss][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]"
        "/[Mm][aA][nN][aA][gG][eE][mM][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kK][Ss"
        "][cC][rR][iI][pP][tT][sS]/[lL][oO][gG][oO][uU][tT][hH][oO][oO][kK].[sS][hH]' OR "
        "value GLOB '/[Ll][iI][bB][rR][aA][rR][yY]/[Aa][pP][pP][lL][iI][cC][aA][tT][iI][o"
        "O][nN] [Ss][uU][pP][pP][oO][rR][tT]/[Jj][Aa][Mm][Ff]/[Mm][aA][nN][aA][gG][eE][mM"
        "][eE][nN][tT][Ff][rR][aA][mM][eE][wW][oO][rR][kK][Ss][cC][rR][iI][pP][tT][sS]/[l"
        "L][oO][gG][iI][nN][hH][oO][oO][kK].[sS][hH]')"
    ),
    "macos-process/privilege_escalation_applescript_with_admin_privs.toml": (
        "EXISTS (SELECT 1 FROM json_each(NULLIF(event_category, '')) WHERE value = 'proce"
        "ss') AND host_os_type = 'macos' AND EXISTS (SELECT 1 FROM json_each(NULLIF(event"
        "_type, '')) WHERE value IN ('start', 'process_started')) AND process_name = 'osa"
        "script' AND process_command_line GLOB '[oO][sS][aA][sS][cC][rR][iI][pP][tT]*[wW]"
        "[iI][tT][hH] [aA][dD][mM][iI][nN][iI][sS][tT][rR][aA][tT][oO][rR] [pP][rR][iI][v"
        "V][iI][lL][eE][gG][eE][sS]' AND (NULLIF(process_parent_code_signature_trusted, '"
        "') = 0 OR NULLIF(process_parent_code_signature_exists, '') = 0 OR process_effect"
        "ive_parent_executable GLOB '/tmp/*' OR process_effective_parent_executable GLOB "
        "'/private/tmp/*' OR process_effective_parent_executable GLOB '/Users/Shared/*')"
    ),
}


@pytest.mark.parametrize("name", sorted(GOLDEN_WHERE))
def test_fixture_rules_golden_where(name: str) -> None:
    compiled = compile_rule(load_rule(FIXTURES / name))
    assert compiled.where == "".join(GOLDEN_WHERE[name])
    assert compiled.where in compiled.sql.replace("\n  AND ", " AND ")
    runs(compiled)


def test_every_fixture_file_is_pinned() -> None:
    assert sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*.toml")) == sorted(
        GOLDEN_WHERE
    )


TRICKY = ["it's", "50%", "a_b", "a*b", "[x]", "back\\slash", "Straße", "ÉCOLE", "dump-keychain"]
DATA = [
    *TRICKY,
    "its",
    "50x",
    "50%%",
    "aXb",
    "a*b*",
    "x",
    "[X]",
    "back/slash",
    "back\\\\slash",
    "STRASSE",
    "straße",
    "école",
    "École",
    "DUMP-KEYCHAIN",
    "dump-keychain-x",
    "",
    "'",
    "%",
    "_",
    "*",
    "?",
]


def hand(expr: Equals | Match | Regex) -> CompiledRule:
    return compile_query(rule("any where true"), Query("eql", expr))


@pytest.mark.parametrize("value", TRICKY)
@pytest.mark.parametrize("ci", [False, True])
@pytest.mark.parametrize("kind", ["equals", "match", "prefix", "array"])
def test_special_characters_never_break_or_widen(value: str, ci: bool, kind: str) -> None:
    field = FieldRef("process.args" if kind == "array" else "process.name")
    expr: Equals | Match
    if kind in ("equals", "array"):
        expr = Equals(field, (value,), ci)
    else:
        parts = (value,) if kind == "match" else (value, Pattern.parse("*").parts[0])
        expr = Match(field, (Pattern(parts),), ci)  # type: ignore[arg-type]
    compiled = hand(expr)
    conn = osquery_sqlite.connect(now=1000)
    docs = [
        {"process.name": d, "process.args": [d], "event.id": str(i)} for i, d in enumerate(DATA)
    ]
    rows = [to_row(d, FIELDS) | {"time": "999"} for d in docs]
    osquery_sqlite.insert_rows(conn, rows)
    got = {r[5] for r in conn.execute(compiled.sql)}
    expected = {d["event.id"] for d in docs if matches(compiled.query, d)}
    assert got == expected
    assert str(DATA.index(value)) in got  # the value itself always matches


def test_quotes_are_doubled_and_nothing_else_is_escaped() -> None:
    assert hand(Equals(FieldRef("process.name"), ("it's\\%_",))).where == (
        "process_name = 'it''s\\%_'"
    )
    assert hand(Match(FieldRef("process.name"), (Pattern(("a*?[", Wild.ANY)),))).where == (
        "process_name GLOB 'a[*][?][[]*'"
    )


@pytest.mark.parametrize("bad", ["nul\x00", "lone\ud800"])
def test_unrepresentable_text_is_refused(bad: str) -> None:
    with pytest.raises(UnsupportedConstruct) as err:
        hand(Equals(FieldRef("process.name"), (bad,)))
    assert err.value.rule == "r1"


def test_errors_name_the_rule_and_are_collected() -> None:
    good = rule(SEED_EQL, rule_id="good")
    unmapped = rule('process where file.path == "x"', rule_id="unmapped")
    broken = rule("process where (", rule_id="broken")
    compiled, errors = compile_rules([good, unmapped, broken])
    assert [c.rule.rule_id for c in compiled] == ["good"]
    assert [e.rule for e in errors] == ["unmapped", "broken"]
    assert isinstance(errors[0], UnmappedField)


def test_compile_where_for_exceptions() -> None:
    expr = Match(FieldRef("process.Ext.effective_parent.executable"), (Pattern.parse("/usr/*"),))
    assert compile_where(expr) == "process_effective_parent_executable GLOB '/usr/*'"


def test_regex_compiles_to_anchored_regex_match() -> None:
    compiled = hand(Regex(FieldRef("process.name"), ("sec.*ty[0-9]{2}",), True))
    assert compiled.where == (
        "regex_match(NULLIF(process_name, ''), '^(?:[Ss][Ee][Cc][\\s\\S]*[Tt][Yy][0-9]{2})$', 0)"
        " IS NOT NULL"
    )
    runs(compiled)


@pytest.mark.parametrize("pattern", ["a~b", "a&b", "<1-5>", "a@", "#", "a.b", "[é]", "[^a]"])
def test_regex_outside_the_exact_subset_is_refused(pattern: str) -> None:
    with pytest.raises(UnsupportedConstruct):
        hand(Regex(FieldRef("process.name"), (pattern,)))
