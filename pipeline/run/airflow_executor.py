"""An Airflow LocalExecutor whose task processes start with TFX already imported.

Every task of the DAG imports TensorFlow, TFX, TFDV, TFT, TFMA and Beam (~15-20 s
of a 2-core machine) before it does a second of work, and a day's run has eight
tasks in a row. Airflow's LocalExecutor runs each task in a process *forked* from
the scheduler (``[core] execute_tasks_new_python_interpreter = False``, the
default), and the task runner forks again; so modules the scheduler imported
before it started its workers are already in every task's memory, copy-on-write,
as a pre-forking web server preloads its application.

Select it with ``AIRFLOW__CORE__EXECUTOR=pipeline.run.airflow_executor.PreloadedLocalExecutor``
(Airflow loads executors by import path). The scheduler imports the modules once at
start; nothing runs TensorFlow before the fork (no op, no session, no thread pool),
which is what makes forking after the import safe. Task processes that are not forked
(``execute_tasks_new_python_interpreter = True``, another executor) still work: they
import TFX themselves.
"""

from __future__ import annotations

import importlib
import logging
import time

from airflow.executors.local_executor import LocalExecutor

# What a task imports: the launcher, the pipeline definition and, through the
# components it builds, every executor (TFDV, TFT, TFMA, the Trainer's Keras code).
PRELOAD = ("pipeline.run.launch", "pipeline.run.backfill", "pipeline.mlmd.connection")


def preload(modules: tuple[str, ...] = PRELOAD) -> float:
    """Imports the modules every task needs into this process.

    Args:
        modules: Module names.

    Returns:
        The seconds it took.
    """
    started = time.perf_counter()
    for module in modules:
        importlib.import_module(module)
    return time.perf_counter() - started


class PreloadedLocalExecutor(LocalExecutor):
    """LocalExecutor that imports the pipeline's TFX stack before starting workers."""

    def start(self) -> None:
        """Preloads TFX, then starts the LocalExecutor's workers (forked from here)."""
        seconds = preload()
        logging.getLogger(__name__).info("Preloaded %s in %.1f s", ", ".join(PRELOAD), seconds)
        super().start()
