"""argv recovery from osquery's ``cmdline``: quoted (osquery ≥ 5.10, std::quoted) and before.

The encoders here are osquery's writers transcribed: ≥ 5.10 ``appendQuotedString``
(``osquery/events/darwin/es_utils.cpp`` lines 165-171 at a5b14f63d), 5.0-5.9 ``args << s << ' '``
(``endpointsecurity.cpp`` line 196 in 5.0.1, line 119 in 5.9.1).
"""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ecsquery.extension.argv import (
    join_plain,
    parse_cmdline,
    parse_joined,
    parse_version,
    quote_cmdline,
    quotes_cmdline,
    requote_joined,
    split_plain,
)


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


ARGS = st.lists(st.text(alphabet=st.sampled_from('ab \\"-/\t\n\xff\ud800'), max_size=6), max_size=6)


@given(ARGS)
def test_round_trip(args: list[str]) -> None:
    assert parse_cmdline(quote_cmdline(args)) == args


def test_a_lone_empty_argument_is_not_no_arguments() -> None:
    # osquery writes argv [""] as "" + ' ' (no space or quote in it, so not quoted)
    assert (quote_cmdline([""]), quote_cmdline([])) == (" ", "")
    assert (parse_cmdline(" "), parse_cmdline("")) == ([""], [])
    assert (parse_joined(" "), parse_joined("")) == ([""], [])


@given(ARGS)
def test_before_5_10_exact_unless_an_argument_holds_a_space(args: list[str]) -> None:
    back = parse_joined(join_plain(args))
    if any(" " in arg for arg in args):
        assert " ".join(back) == " ".join(args)  # split further, nothing lost
    else:
        assert back == args
    assert parse_cmdline(requote_joined(join_plain(args))) == back  # one parser reads both


# One argv as each osquery writes it (the README's osascript example): a real cmdline string.
OSASCRIPT = ["osascript", "-e", 'display dialog "hi there"', "", "a\\b"]


def test_both_sides_of_5_10() -> None:
    old = join_plain(OSASCRIPT)  # osquery 5.9.1
    new = quote_cmdline(OSASCRIPT)  # osquery 5.10.0 on
    assert old == 'osascript -e display dialog "hi there"  a\\b '
    assert new == r'osascript -e "display dialog \"hi there\""  a\b '
    assert parse_cmdline(new) == OSASCRIPT
    split = ["osascript", "-e", "display", "dialog", '"hi', 'there"', "", "a\\b"]
    assert parse_joined(old) == split
    # read with the wrong parser, the old line would lose its quotes and merge arguments
    assert parse_cmdline(old) != parse_joined(old)


def test_which_versions_quote() -> None:
    assert [quotes_cmdline(v) for v in ("5.0.1", "5.9.1", "5.10.0", "5.10.2", "5.23.0")] == [
        False, False, True, True, True,
    ]  # fmt: skip
    assert quotes_cmdline("5.9.1-12-g0123abc") is False  # a development build of 5.9.1
    assert quotes_cmdline("6.0.0") and quotes_cmdline("") and quotes_cmdline("unknown")
    assert parse_version("5.10.0-3-gabc") == (5, 10, 0) and parse_version("5") is None


def test_split_plain_is_lossy_by_name() -> None:
    assert split_plain("curl google.com") == ["curl", "google.com"]
