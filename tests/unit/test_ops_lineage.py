"""Lineage and rollback helpers that need no run (pipeline/ops/lineage.py, rollback.py).

The tests over real runs are in tests/e2e/test_ops_lineage_e2e.py; the serving
directory publisher rollback copies with is tested in tests/unit/test_serving_dir.py.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path


def test_to_json_is_stable_and_handles_nested_dataclasses() -> None:
    from pipeline.views.lineage import to_json

    @dataclasses.dataclass(frozen=True)
    class Inner:
        b: int
        a: tuple[str, ...]

    @dataclasses.dataclass(frozen=True)
    class Outer:
        z: Inner
        path: Path
        mapping: dict[str, float]

    value = Outer(Inner(1, ("x",)), Path("/p"), {"y": 1.0, "b": 2.0})
    text = to_json(value)
    assert text == to_json(value)
    assert json.loads(text) == {
        "z": {"b": 1, "a": ["x"]},
        "path": "/p",
        "mapping": {"y": 1.0, "b": 2.0},
    }
    assert text.index('"mapping"') < text.index('"path"') < text.index('"z"')
