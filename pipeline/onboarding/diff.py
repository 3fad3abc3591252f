"""What changed between two schemas, one line per change, for review before writing."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf import json_format
from tensorflow_metadata.proto.v0 import schema_pb2


def _as_dicts(schema: schema_pb2.Schema | None) -> tuple[dict[str, dict], dict[str, dict]]:
    if schema is None:
        return {}, {}
    features = {f.name: _fields(f) for f in schema.feature}
    domains = {d.name: _fields(d) for d in schema.string_domain}
    return features, domains


def _fields(message: Any) -> dict[str, Any]:
    # The proto's own field names (min_domain_mass, not minDomainMass), as in the file.
    return json_format.MessageToDict(message, preserving_proto_field_name=True)


def _show(value: Any) -> str:
    if value is None:
        return "(unset)"
    return json.dumps(value, sort_keys=True) if isinstance(value, (dict, list)) else str(value)


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
            changes.append(f"~ {kind} {name}: {key} {_show(old.get(key))} -> {_show(new.get(key))}")
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
