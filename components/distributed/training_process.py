"""One worker's training process.

``python -m components.distributed.training_process --job DIR --index N``, started by
:func:`components.distributed.cluster.run_task_process`.

The job is read before TensorFlow is imported, so a job this code cannot read fails
in a second, and TensorFlow's first use in the process is creating the strategy.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from components.distributed import cluster


def main(argv: Sequence[str] | None = None) -> int:
    """Trains worker ``--index``'s part of the job in ``--job``.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        0 when this worker's training finished (errors raise, exit code 1).
    """
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--job", required=True, help="a job directory (or its job.json)")
    parser.add_argument("--index", type=int, required=True, help="this worker's index")
    args = parser.parse_args(argv)
    job = cluster.read_job(args.job)
    from absl import logging

    from components.distributed.trainer_executor import train_task

    logging.set_verbosity(logging.INFO)
    train_task(job, args.index)
    print(f"Worker {args.index}: training finished", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
