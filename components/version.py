"""Fingerprints of source code, for the cache keys TFX does not compute itself.

TFX fingerprints a ``module_file`` but not code referenced by dotted path (the
Transform's ``preprocessing_fn``, the Trainer's ``run_fn``, a custom component's
executor), so without an explicit fingerprint in the exec properties an edit to
that code would be a cache hit.
"""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

PACKAGE = "tfx-clicks-pipeline"

# Only the code that Transform and Trainer execute: preprocessing_fn, run_fn and what
# they import. Custom components (DataGate, Pusher, TFLite) and the multi-worker
# plumbing are outside it, so editing them does not retrain.
MODEL_CODE = Path(__file__).resolve().parent / "model"


@functools.cache
def fingerprint(source: Path) -> str:
    """Returns ``<package version>+<sha256 prefix>`` of one file or a folder's ``*.py``.

    Hashing the sources (not a git commit) also works from a wheel or a dirty tree.

    Args:
        source: A Python file, or a folder whose ``*.py`` files (recursively) count.

    Returns:
        The version string.
    """
    digest = hashlib.sha256()
    files = sorted(source.rglob("*.py")) if source.is_dir() else [source]
    for path in files:
        digest.update(path.relative_to(source.parent).as_posix().encode())
        digest.update(path.read_bytes())
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"{version}+{digest.hexdigest()[:12]}"


def code_version() -> str:
    """Returns the fingerprint of the model code (``components/model/``).

    Returns:
        The code version string recorded by Transform and Trainer.
    """
    return fingerprint(MODEL_CODE)
