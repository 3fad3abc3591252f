"""Public example datasets written as CSV spans (for the second-dataset config)."""

from __future__ import annotations

from pathlib import Path


def write_wine(out_dir: Path, spans: int = 1) -> list[Path]:
    """Writes scikit-learn's bundled wine table as ``span-<n>/wine.csv`` files.

    Rows are dealt round-robin into ``spans`` spans so a multi-span run has similar
    class mixes in each. Column names are made valid TensorFlow names
    (``od280/od315_of_diluted_wines`` becomes ``od280_od315_of_diluted_wines``).

    Args:
        out_dir: The dataset's ``data.input_base``.
        spans: How many spans to write, numbered from 1.

    Returns:
        The written files, in span order.
    """
    from sklearn.datasets import load_wine  # bundled with scikit-learn, no download

    frame = load_wine(as_frame=True).frame
    frame.columns = [column.replace("/", "_") for column in frame.columns]
    paths = []
    for span in range(1, spans + 1):
        path = Path(out_dir) / f"span-{span}" / "wine.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.iloc[span - 1 :: spans].to_csv(path, index=False)
        paths.append(path)
    return paths
