"""Hand-made ML Metadata records, attributed the way TFX's launcher attributes them.

The run-guard tests need runs in states a real run rarely leaves (RUNNING after a
kill, owners on other hosts); these write them into a real SQLite store directly.
"""

from __future__ import annotations

from pathlib import Path

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.mlmd.queries import NODE_CONTEXT, PIPELINE_CONTEXT

PIPELINE = "clicks"


def sqlite_store(path: Path | str) -> mlmd.MetadataStore:
    """Opens (creating if needed) the SQLite ML Metadata store at ``path``.

    Args:
        path: The SQLite file.

    Returns:
        The store.
    """
    connection = metadata_store_pb2.ConnectionConfig()
    connection.sqlite.filename_uri = str(path)
    connection.sqlite.connection_mode = (
        metadata_store_pb2.SqliteMetadataSourceConfig.READWRITE_OPENCREATE
    )
    return mlmd.MetadataStore(connection)


def ensure_context(
    store: mlmd.MetadataStore, type_name: str, name: str
) -> metadata_store_pb2.Context:
    """The context ``name`` of ``type_name``, created (with its type) if missing.

    Args:
        store: The store.
        type_name: The context type, e.g. ``pipeline_run``.
        name: The context name.

    Returns:
        The stored context (with its id).
    """
    found = store.get_context_by_type_and_name(type_name, name)
    if found is not None:
        return found
    type_id = store.put_context_type(metadata_store_pb2.ContextType(name=type_name))
    created = metadata_store_pb2.Context(type_id=type_id, name=name)
    [created.id] = store.put_contexts([created])
    return created


def record_execution(
    store: mlmd.MetadataStore, run: metadata_store_pb2.Context, node: str, state: int
) -> int:
    """Records an execution of ``node`` in ``run`` of :data:`PIPELINE`, in ``state``.

    Args:
        store: The store.
        run: The run's ``pipeline_run`` context.
        node: The node id (also used as the execution type name).
        state: An ``Execution.State`` value, e.g. ``Execution.RUNNING``.

    Returns:
        The execution's id.
    """
    type_id = store.put_execution_type(metadata_store_pb2.ExecutionType(name=node))
    recorded = metadata_store_pb2.Execution(type_id=type_id, last_known_state=state)
    [execution_id] = store.put_executions([recorded])
    contexts = [
        ensure_context(store, PIPELINE_CONTEXT, PIPELINE),
        ensure_context(store, NODE_CONTEXT, f"{PIPELINE}.{node}"),
        run,
    ]
    associations = [
        metadata_store_pb2.Association(context_id=c.id, execution_id=execution_id) for c in contexts
    ]
    store.put_attributions_and_associations([], associations)
    return execution_id
