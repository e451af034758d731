"""argv recovery from osquery's quoted ``cmdline`` (osquery ≥ 5.10's std::quoted encoding)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ecsquery.extension.argv import parse_cmdline, quote_cmdline, split_plain


def test_plain_arguments() -> None:
    assert parse_cmdline("/usr/bin/security dump-keychain -d ") == [
        "/usr/bin/security",
        "dump-keychain",
        "-d",
    ]


def test_arguments_with_spaces_and_quotes() -> None:
    cmdline = r'osascript -e "display dialog \"hi there\"" "/Users/a b/x" '
    assert parse_cmdline(cmdline) == [
        "osascript",
        "-e",
        'display dialog "hi there"',
        "/Users/a b/x",
    ]


def test_backslash_only_escaped_inside_quotes() -> None:
    # an argument with a backslash but no space or quote is written verbatim
    assert parse_cmdline(r"grep a\.b ") == ["grep", r"a\.b"]
    assert parse_cmdline(r'echo "a \\ b" ') == ["echo", "a \\ b"]


def test_empty_arguments_survive() -> None:
    assert parse_cmdline("a  b ") == ["a", "", "b"]
    assert parse_cmdline("a  ") == ["a", ""]


def test_without_trailing_space_and_unbalanced_quote() -> None:
    assert parse_cmdline("ls -la") == ["ls", "-la"]
    assert parse_cmdline('sh -c "echo hi') == ["sh", "-c", "echo hi"]
    assert parse_cmdline("") == []


def test_quote_is_osquery_encoding() -> None:
    assert quote_cmdline(["a b", 'c"d', "e\\f", ""]) == r'"a b" "c\"d" e\f  '


@given(st.lists(st.text(alphabet=st.sampled_from('ab \\"-/'), max_size=6), min_size=1, max_size=6))
def test_round_trip(args: list[str]) -> None:
    if args == [""]:
        return  # a lone empty argument encodes as " ", indistinguishable from no arguments
    assert parse_cmdline(quote_cmdline(args)) == args


def test_split_plain_is_lossy_by_name() -> None:
    assert split_plain("curl google.com") == ["curl", "google.com"]
