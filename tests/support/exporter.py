"""The metrics exporter (``python -m pipeline metrics --serve``) as a real process."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from tests.support.cli import REPO

READY = "Serving Prometheus metrics on "


@contextlib.contextmanager
def metrics_exporter(
    data_root: Path, output_root: Path, port: int = 0
) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Starts the exporter on 127.0.0.1 and stops it on exit.

    Args:
        data_root: The pipeline's data root (``--data-root``).
        output_root: The pipeline's output root (``--output-root``): its ML Metadata.
        port: The port; 0 lets the exporter pick a free one.

    Yields:
        The process and the URL its first line says it serves on.
    """
    server = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "metrics"]
        + ["--data-root", str(data_root), "--output-root", str(output_root)]
        + ["--serve", "--port", str(port), "--addr", "127.0.0.1"],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        line = server.stdout.readline()
        assert line.startswith(READY + "http://127.0.0.1:"), line
        yield server, line.split(" on ", 1)[1].strip()
    finally:
        server.terminate()
        server.wait(timeout=30)
