"""``python -m pipeline.devtools.bench``: the benchmark harness (``make bench``).

Writes ``results.md`` and ``results.json`` under ``--out`` (default
``outputs/bench``), and with ``--docs`` copies them to ``docs/benchmarks.md`` and
``docs/benchmarks.json``. See :mod:`pipeline.devtools.bench.suite` for what is
measured and :mod:`pipeline.devtools.bench.page` for the page.
"""

from __future__ import annotations

import sys

from pipeline.devtools.bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
