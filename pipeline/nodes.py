"""Node ids of the pipeline, in execution order, and their dependencies.

Kept apart from :mod:`pipeline.pipeline` (which imports TFX and TFMA) so the run
summary, the tests and an Airflow DAG file can name nodes without those imports.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import NamedTuple

EXAMPLE_GEN = "CsvExampleGen"
STATISTICS_GEN = "StatisticsGen"
SCHEMA_GEN = "ImportSchemaGen"
EXAMPLE_VALIDATOR = "ExampleValidator"
PREVIOUS_STATISTICS = "previous_passed_statistics"
SERVING_EXAMPLE_GEN = "ServingExampleGen"
SERVING_STATISTICS_GEN = "ServingStatisticsGen"
DATA_GATE = "DataGate"
SPAN_WINDOW = "span_window"
ANALYZER_CACHE = "transform_analyzer_cache"
TRANSFORM = "Transform"
WARM_START = "warm_start_model"
TRAINER = "Trainer"
BASELINE = "latest_blessed_model"
EVALUATOR = "Evaluator"
TFLITE_CONVERTER = "TFLiteConverter"
PUSHER = "Pusher"

# Resolver nodes only look artifacts up in ML Metadata; they run no executor.
RESOLVERS = (PREVIOUS_STATISTICS, SPAN_WINDOW, ANALYZER_CACHE, WARM_START, BASELINE)
# The node that consumes each resolver's output. An Airflow task launches the
# resolver just before its consumer, in the consumer's process: a task of its own
# would cost a process start and a TFX import to look four artifacts up.
CONSUMER = {
    PREVIOUS_STATISTICS: DATA_GATE,
    SPAN_WINDOW: TRANSFORM,
    ANALYZER_CACHE: TRANSFORM,
    WARM_START: TRAINER,
    BASELINE: EVALUATOR,
}

# What a span goes through before it may be trained on: ingest, statistics, schema
# check, drift check. Backfilled spans run exactly these.
VALIDATION_NODES = (
    EXAMPLE_GEN,
    STATISTICS_GEN,
    SCHEMA_GEN,
    EXAMPLE_VALIDATOR,
    PREVIOUS_STATISTICS,
    DATA_GATE,
)
SERVING_NODES = (SERVING_EXAMPLE_GEN, SERVING_STATISTICS_GEN)


def upstream(serving: bool = False, tflite: bool = False) -> dict[str, tuple[str, ...]]:
    """Each node's upstream nodes: the task graph an Airflow DAG builds without TFX.

    tests/unit/test_pipeline_topology.py checks it against the compiled pipeline.

    Args:
        serving: Whether the config has serving data (adds the skew nodes).
        tflite: Whether the config exports TFLite (``export.tflite``: adds the
            converter, whose output the Pusher takes).

    Returns:
        Node id -> upstream node ids, in execution order.
    """
    gate_inputs: tuple[str, ...] = (
        EXAMPLE_GEN,
        STATISTICS_GEN,
        SCHEMA_GEN,
        EXAMPLE_VALIDATOR,
        PREVIOUS_STATISTICS,
    )
    graph: dict[str, tuple[str, ...]] = {
        EXAMPLE_GEN: (),
        SCHEMA_GEN: (),
        STATISTICS_GEN: (EXAMPLE_GEN,),
        EXAMPLE_VALIDATOR: (STATISTICS_GEN, SCHEMA_GEN),
        PREVIOUS_STATISTICS: (EXAMPLE_GEN,),
    }
    if serving:
        graph[SERVING_EXAMPLE_GEN] = ()
        graph[SERVING_STATISTICS_GEN] = (SERVING_EXAMPLE_GEN,)
        gate_inputs += (SERVING_STATISTICS_GEN,)
    graph.update(
        {
            DATA_GATE: gate_inputs,
            SPAN_WINDOW: (EXAMPLE_GEN, DATA_GATE),
            ANALYZER_CACHE: (EXAMPLE_GEN,),
            TRANSFORM: (SCHEMA_GEN, SPAN_WINDOW, ANALYZER_CACHE, DATA_GATE),
            WARM_START: (EXAMPLE_GEN,),
            # The raw window too: the Trainer applies Transform's graph to it.
            TRAINER: (SCHEMA_GEN, SPAN_WINDOW, TRANSFORM, WARM_START),
            BASELINE: (TRAINER,),
            EVALUATOR: (EXAMPLE_GEN, TRAINER, BASELINE),
        }
    )
    if tflite:
        graph[TFLITE_CONVERTER] = (EXAMPLE_GEN, TRAINER)
        graph[PUSHER] = (EXAMPLE_GEN, TRAINER, EVALUATOR, TFLITE_CONVERTER)
    else:
        graph[PUSHER] = (EXAMPLE_GEN, TRAINER, EVALUATOR)
    return graph


# The bundled config's topology (pipeline/configs/clicks.yaml: no serving data,
# TFLite export on).
UPSTREAM: dict[str, tuple[str, ...]] = upstream(tflite=True)

# Every node any config can have, in execution order.
ALL_NODES: tuple[str, ...] = tuple(upstream(serving=True, tflite=True))
# Every node an Airflow task can be named after.
TASK_NODES: tuple[str, ...] = tuple(node for node in ALL_NODES if node not in CONSUMER)


class Task(NamedTuple):
    """One Airflow task of the daily DAG.

    Attributes:
        nodes: The nodes it launches, in order: its resolvers, then the node it is
            named after.
        upstream: The tasks it waits for.
    """

    nodes: tuple[str, ...]
    upstream: tuple[str, ...]


def tasks(serving: bool = False, tflite: bool = False) -> dict[str, Task]:
    """The Airflow tasks: one per node that runs an executor, named after it.

    Args:
        serving: Whether the config has serving data.
        tflite: Whether the config exports TFLite.

    Returns:
        Task id (a node id) -> the task, in execution order.
    """
    graph = upstream(serving=serving, tflite=tflite)

    def task_of(node: str) -> str:
        return CONSUMER.get(node, node)

    result: dict[str, Task] = {}
    for node in graph:
        if node in CONSUMER:
            continue
        launched = tuple(r for r in RESOLVERS if CONSUMER[r] == node and r in graph) + (node,)
        waits_for = {task_of(p) for n in launched for p in graph[n]} - {node}
        result[node] = Task(launched, tuple(t for t in graph if t in waits_for))
    return result


def execution_order(node_ids: Iterable[str], first_seen: Callable[[str], int]) -> list[str]:
    """Orders node ids as the pipeline runs them; unknown nodes go last.

    Args:
        node_ids: The nodes to order (e.g. those with an execution in a run).
        first_seen: Sort key for nodes this module does not know (an execution id).

    Returns:
        The node ids, known ones in pipeline order, then the rest by ``first_seen``.
    """
    present = set(node_ids)
    known = [node for node in ALL_NODES if node in present]
    return known + sorted(present.difference(ALL_NODES), key=first_seen)
