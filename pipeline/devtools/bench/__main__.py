"""``python -m pipeline.devtools.bench``: the benchmark harness (``make bench``).

Writes ``results.md`` and ``results.json`` under ``--out`` (default
``outputs/bench``), and with ``--docs`` copies them to ``docs/bench-results.*``, the
copy the README quotes. See :mod:`pipeline.devtools.bench.suite` for what is measured.
"""

from __future__ import annotations

import sys

from pipeline.devtools.bench.suite import main

if __name__ == "__main__":
    sys.exit(main())
