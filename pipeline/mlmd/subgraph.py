"""ML Metadata lineage subgraphs: one query for a whole upstream trace.

``MetadataStore.get_lineage_subgraph`` returns every artifact, execution, event and
context within some hops of a starting artifact in one call; :class:`Subgraph`
answers the questions of :mod:`pipeline.mlmd.queries` (producer, artifacts under a
key, run id) on it in memory, with the same rules (the original execution
before its cache hits, artifacts in event path order).
"""

from __future__ import annotations

import ml_metadata as mlmd
from ml_metadata.proto import metadata_store_pb2

from pipeline.mlmd import queries


class Subgraph:
    """A lineage subgraph MLMD returned, walked in memory without further queries.

    Attributes:
        graph: The subgraph (artifacts, executions, events, contexts, associations).
    """

    def __init__(self, graph: metadata_store_pb2.LineageGraph) -> None:
        """Indexes the subgraph.

        Args:
            graph: From ``MetadataStore.get_lineage_subgraph``.
        """
        self.graph = graph
        self._artifacts = {a.id: a for a in graph.artifacts}
        self._executions = {e.id: e for e in graph.executions}
        self._contexts = {c.id: c for c in graph.contexts}

    def producer(self, artifact_id: int) -> queries.Execution | None:
        """Returns the execution in the subgraph that produced an artifact.

        Args:
            artifact_id: The artifact.

        Returns:
            The original execution (not a cache hit), or None.
        """
        ids = {
            e.execution_id
            for e in self.graph.events
            if e.artifact_id == artifact_id and e.type == queries.Event.OUTPUT
        }
        found = queries.original_first(self._executions[i] for i in ids if i in self._executions)
        return found[0] if found else None

    def artifacts(
        self, execution_id: int, key: str, kind: int = queries.Event.OUTPUT
    ) -> list[queries.Artifact]:
        """Returns an execution's artifacts under one key, as :func:`queries.artifacts` does.

        Args:
            execution_id: The execution.
            key: The input or output key.
            kind: ``Event.OUTPUT`` (default) or ``Event.INPUT``.

        Returns:
            The artifacts in the subgraph, in the order of their event path index.
        """
        events = (e for e in self.graph.events if e.execution_id == execution_id)
        ids = queries.artifact_ids(events, key, kind)
        return [self._artifacts[i] for i in ids if i in self._artifacts]

    def run_id(self, execution: queries.Execution) -> str | None:
        """Returns the name of an execution's ``pipeline_run`` context, if it has one.

        Args:
            execution: An execution of the subgraph.

        Returns:
            The run id, or None.
        """
        for association in self.graph.associations:
            context = self._contexts.get(association.context_id)
            if (
                association.execution_id == execution.id
                and context is not None
                and context.type == queries.RUN_CONTEXT
            ):
                return context.name
        return None


def upstream(store: mlmd.MetadataStore, artifact_id: int, hops: int) -> Subgraph:
    """Returns an artifact's upstream lineage: what produced it, and their inputs.

    Args:
        store: The metadata store.
        artifact_id: The artifact to trace from.
        hops: How far to walk; each artifact -> execution or execution -> artifact
            edge is one hop.

    Returns:
        MLMD's lineage subgraph, indexed.
    """
    options = metadata_store_pb2.LineageSubgraphQueryOptions(
        starting_artifacts=metadata_store_pb2.LineageSubgraphQueryOptions.StartingNodes(
            filter_query=f"id = {int(artifact_id)}"
        ),
        max_num_hops=hops,
        direction=metadata_store_pb2.LineageSubgraphQueryOptions.UPSTREAM,
    )
    return Subgraph(store.get_lineage_subgraph(options))
