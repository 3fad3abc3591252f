"""A fingerprint of the model code, recorded with every Transform and Trainer run."""

from __future__ import annotations

import functools
import hashlib
from importlib import metadata
from pathlib import Path

PACKAGE = "tfx-clicks-pipeline"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """Returns ``<package version>+<sha256 prefix of components/*.py>``.

    TFX fingerprints a ``module_file`` but not code referenced by dotted path, so
    without this an edit to ``preprocessing_fn`` or the model would be a cache hit.
    Hashing the sources (not a git commit) also works from an sdist or a dirty tree.

    Returns:
        The code version string.
    """
    digest = hashlib.sha256()
    for source in sorted(Path(__file__).resolve().parent.glob("*.py")):
        digest.update(source.name.encode())
        digest.update(source.read_bytes())
    try:
        version = metadata.version(PACKAGE)
    except metadata.PackageNotFoundError:
        version = "0+unknown"
    return f"{version}+{digest.hexdigest()[:12]}"
