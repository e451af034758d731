"""Run every part's benchmark in one process and print one table."""

from __future__ import annotations

import importlib
import os
import platform
import sys

from ecsquery.bench import Figure, format_table

# Each part's bench module, in pipeline order; a part that is not built yet is reported, not fatal.
PARTS = ("extension", "extension_file", "network", "rules", "multi", "alerts", "replay")


def main() -> int:
    figures: list[Figure] = []
    for part in PARTS:
        try:
            module = importlib.import_module(f"ecsquery.bench.{part}")
        except ModuleNotFoundError:
            print(f"[bench] no benchmark for {part} yet", file=sys.stderr)
            continue
        print(f"[bench] {part}...", file=sys.stderr, flush=True)
        figures.extend(module.run())
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(
        f"machine: {platform.python_implementation()} {platform.python_version()}, "
        f"{os.cpu_count()} cores, load average {load:.2f} at the end (figures are medians)"
    )
    print(format_table(figures))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
