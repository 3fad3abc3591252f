"""``python -m pipeline schema``: infer a schema from the newest span and diff it."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import json_format
from tensorflow_metadata.proto.v0 import schema_pb2


def infer_schema(csv_pattern: str) -> schema_pb2.Schema:
    """Computes statistics over CSV files with TFDV and infers a schema from them.

    Args:
        csv_pattern: A glob of CSV files with a header row.

    Returns:
        The inferred schema (feature shapes inferred, so complete columns are dense).
    """
    import tensorflow_data_validation as tfdv

    stats = tfdv.generate_statistics_from_csv(data_location=csv_pattern)
    return tfdv.infer_schema(stats, infer_feature_shape=True)


def read_schema(path: Path) -> schema_pb2.Schema | None:
    """Reads a text-format schema, or returns None if the file does not exist.

    Args:
        path: A ``schema.pbtxt``.

    Returns:
        The schema or None.
    """
    import tensorflow_data_validation as tfdv

    return tfdv.load_schema_text(str(path)) if path.exists() else None


def write_schema(schema: schema_pb2.Schema, path: Path) -> None:
    """Writes a schema in text format, creating the directory.

    Args:
        schema: The schema.
        path: Destination ``schema.pbtxt``.
    """
    import tensorflow_data_validation as tfdv

    path.parent.mkdir(parents=True, exist_ok=True)
    tfdv.write_schema_text(schema, str(path))


def _as_dicts(schema: schema_pb2.Schema | None) -> tuple[dict[str, dict], dict[str, dict]]:
    if schema is None:
        return {}, {}
    features = {f.name: json_format.MessageToDict(f) for f in schema.feature}
    domains = {d.name: json_format.MessageToDict(d) for d in schema.string_domain}
    return features, domains


def _describe(kind: str, name: str, old: dict, new: dict) -> list[str]:
    changes = []
    for key in sorted(set(old) | set(new)):
        if key == "name" or old.get(key) == new.get(key):
            continue
        if key == "value":
            added = sorted(set(new.get(key, [])) - set(old.get(key, [])))
            removed = sorted(set(old.get(key, [])) - set(new.get(key, [])))
            if not added and not removed:
                continue  # same values in another order
            parts = ([f"+{added}"] if added else []) + ([f"-{removed}"] if removed else [])
            changes.append(f"~ {kind} {name}: values {' '.join(parts)}")
        else:
            changes.append(
                f"~ {kind} {name}: {key} {old.get(key, '(unset)')} -> {new.get(key, '(unset)')}"
            )
    return changes


def diff_schemas(old: schema_pb2.Schema | None, new: schema_pb2.Schema) -> list[str]:
    """Lists what changed between two schemas, one line per change.

    Args:
        old: The current schema (None if there is none yet).
        new: The newly inferred schema.

    Returns:
        Lines like ``+ feature x: INT``, ``- feature y``, ``~ feature z: type ...``;
        empty when the schemas agree.
    """
    old_features, old_domains = _as_dicts(old)
    new_features, new_domains = _as_dicts(new)
    lines: list[str] = []
    for kind, before, after in (
        ("feature", old_features, new_features),
        ("string domain", old_domains, new_domains),
    ):
        for name in sorted(set(before) | set(after)):
            if name not in before:
                lines.append(f"+ {kind} {name}: {after[name].get('type', '')}".rstrip(": "))
            elif name not in after:
                lines.append(f"- {kind} {name}")
            else:
                lines.extend(_describe(kind, name, before[name], after[name]))
    return lines
