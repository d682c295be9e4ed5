"""Run the benchmarks: ``make bench`` or ``python -m bench [NAME ...]``.

Each ``bench/bench_*.py`` module has a ``main()`` that prints its figures and compares them
with a baseline measured in the same run. Benchmarks that need Firestore get the emulator
from ``bench.stack``; nothing here runs in the test suite.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys
import time

import bench


def main(argv: list[str]) -> int:
    names = sorted(
        m.name for m in pkgutil.iter_modules(bench.__path__) if m.name.startswith("bench_")
    )
    chosen = [n for n in names if not argv or any(a in n for a in argv)]
    failed = 0
    for name in chosen:
        print(f"\n=== {name} ===", flush=True)
        began = time.perf_counter()
        try:
            importlib.import_module(f"bench.{name}").main()
        except Exception as error:  # one broken benchmark must not hide the others
            failed += 1
            print(f"FAILED: {type(error).__name__}: {error}")
        print(f"({time.perf_counter() - began:.1f} s)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
