"""``ecsquery import`` over every Elastic multi-event rule that applies to Macs (53 files, see
tests/fixtures/SOURCES.md): how many compile per class, and that every refusal names a reason.

The counts are the issue's before/after table; a change in them is a change in what runs.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from pathlib import Path

from ecsquery.rules.importer import import_rules

CORPUS = Path(__file__).parent / "fixtures" / "elastic-rules-multi"
PATHS = sorted(CORPUS.glob("*.toml"))


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
    assert dict(compiled) == {}
    assert all(r.status in ("compiled", "refused") for r in results), [
        (r.slug, r.reason) for r in results if r.status not in ("compiled", "refused")
    ]
    assert all(r.reason for r in results if r.status == "refused")
