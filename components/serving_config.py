"""TF Serving's model config file, ``<serving_dir>/models.config``: which version is which label.

TF Serving runs with ``--model_config_file=<serving_dir>/models.config`` and polls it
(``--model_config_file_poll_wait_seconds``). The file is a text-format
``tensorflow_serving.config.ModelServerConfig``; each pipeline's model has one entry:

.. code-block:: text

    model_config_list {
      config {
        name: "clicks"
        base_path: "/models/clicks"
        model_platform: "tensorflow"
        model_version_policy { specific { versions: 1700000000 versions: 1700086400 } }
        version_labels { key: "canary" value: 1700086400 }
        version_labels { key: "stable" value: 1700000000 }
      }
    }

Only the labelled versions are loaded (``specific`` policy): TF Serving assigns a
label only to a version it has loaded, and a version no label names has no reason
to take memory. Clients ask for ``version_label: "stable"`` (or ``canary``).

Writers (the Pusher after it publishes, ``promote``, ``rollback``) go through
:func:`update`: an exclusive ``flock`` on ``<serving_dir>/.models.config.lock``
serialises their read-modify-write (two runs sharing MySQL metadata may push at
once), and :func:`write` replaces the file atomically (temp file in the same
directory, fsync, rename, directory fsync), so TF Serving's poll reads the old file
or the new one, never a half-written one. Other models' entries (another pipeline
sharing the serving directory) are kept as they are.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from google.protobuf import text_format
from tensorflow_serving.config import model_server_config_pb2

from components.serving_dir import fsync_dir

CONFIG_FILE = "models.config"
LOCK_FILE = ".models.config.lock"
TEMP_PREFIX = ".models.config.tmp-"

STABLE = "stable"
CANARY = "canary"
LABELS = (STABLE, CANARY)
# The PushedModel's custom property naming the label its push got.
LABEL_PROPERTY = "label"

PathLike = str | os.PathLike[str]
Labels = dict[str, str]


class ServingConfigError(ValueError):
    """The model config file cannot be read as a ``ModelServerConfig``."""


def config_path(serving_dir: PathLike) -> Path:
    """Where TF Serving's model config file of a serving directory is.

    Args:
        serving_dir: The serving directory (``outputs.serving_dir``), which holds
            one directory per model.

    Returns:
        ``<serving_dir>/models.config``.
    """
    return Path(serving_dir) / CONFIG_FILE


def read(serving_dir: PathLike) -> model_server_config_pb2.ModelServerConfig | None:
    """Parses the model config file.

    Args:
        serving_dir: The serving directory.

    Returns:
        The config, or None when the file does not exist.

    Raises:
        ServingConfigError: If the file is not a text-format ``ModelServerConfig``.
    """
    path = config_path(serving_dir)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    config = model_server_config_pb2.ModelServerConfig()
    try:
        text_format.Parse(text, config)
    except (text_format.ParseError, UnicodeDecodeError) as err:
        raise ServingConfigError(
            f"TF Serving model config {path} is not a text-format "
            f"tensorflow_serving.config.ModelServerConfig ({err}). It is written by the "
            "pipeline's Pusher, `promote` and `rollback`; restore it from the labels shown "
            "by `python -m pipeline lineage`, or remove it so the next push writes a new one "
            "(TF Serving keeps the config it loaded last until then)."
        ) from err
    return config


def _entry(
    config: model_server_config_pb2.ModelServerConfig, model_name: str
) -> model_server_config_pb2.ModelConfig | None:
    for entry in config.model_config_list.config:
        if entry.name == model_name:
            return entry
    return None


def labels(serving_dir: PathLike, model_name: str) -> Labels | None:
    """Reads which version holds which label for one model.

    Args:
        serving_dir: The serving directory.
        model_name: The model (its entry's ``name``).

    Returns:
        Label -> version (e.g. ``{"stable": "1700000000"}``); None when the file does
        not exist or has no entry for the model (TF Serving then does not label it).

    Raises:
        ServingConfigError: If the file cannot be parsed.
    """
    config = read(serving_dir)
    entry = None if config is None else _entry(config, model_name)
    if entry is None:
        return None
    return {label: str(version) for label, version in sorted(entry.version_labels.items())}


def write(serving_dir: PathLike, config: model_server_config_pb2.ModelServerConfig) -> Path:
    """Replaces the model config file atomically and durably.

    The text goes to a temp file in the same directory (so the rename stays on one
    filesystem and is atomic), is flushed and fsynced, renamed over the file, and
    the directory is fsynced so the rename survives a power cut. If anything fails
    before the rename, the old file is untouched and the temp file is removed.

    Args:
        serving_dir: The serving directory; created if missing.
        config: The whole config to write.

    Returns:
        The file's path.
    """
    os.makedirs(serving_dir, exist_ok=True)
    path = config_path(serving_dir)
    temp = path.with_name(f"{TEMP_PREFIX}{os.getpid()}-{uuid.uuid4().hex}")
    try:
        with open(temp, "w", encoding="utf-8") as handle:
            handle.write(text_format.MessageToString(config))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temp)
        raise
    fsync_dir(serving_dir)
    return path


def model_config(
    serving_dir: PathLike, model_name: str, labelled: Mapping[str, str]
) -> model_server_config_pb2.ModelConfig:
    """Builds one model's entry: its base path, the labelled versions, the labels.

    Args:
        serving_dir: The serving directory (its absolute path goes into ``base_path``:
            TF Serving mounts it at the same path the pipeline writes).
        model_name: The model.
        labelled: Label -> numeric version.

    Returns:
        The entry.

    Raises:
        ValueError: If a label is not ``stable``/``canary`` or a version not a number.
    """
    entry = model_server_config_pb2.ModelConfig(
        name=model_name,
        base_path=os.path.join(os.path.abspath(serving_dir), model_name),
        model_platform="tensorflow",
    )
    for label, version in sorted(labelled.items()):
        if label not in LABELS or not str(version).isdigit():
            raise ValueError(
                f"cannot label version {version!r} as {label!r} for model {model_name!r}: "
                f"labels are {', '.join(LABELS)} and versions are numeric directory names"
            )
        entry.version_labels[label] = int(version)
    versions = sorted(set(entry.version_labels.values()))
    entry.model_version_policy.specific.versions.extend(versions)
    return entry


@contextlib.contextmanager
def _locked(serving_dir: PathLike) -> Iterator[None]:
    os.makedirs(serving_dir, exist_ok=True)
    # flock is released when the descriptor closes, also when the process dies.
    descriptor = os.open(Path(serving_dir) / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)


def update(
    serving_dir: PathLike,
    model_name: str,
    change: Callable[[Labels | None], Labels],
) -> Labels:
    """Changes one model's labels in the config file, atomically and under a lock.

    Args:
        serving_dir: The serving directory.
        model_name: The model.
        change: Given the current labels (None: the model has no entry yet), returns
            the new ones. It runs under the lock, so it sees the latest file.

    Returns:
        The labels written.

    Raises:
        ServingConfigError: If the existing file cannot be parsed (it is left alone).
        ValueError: If ``change`` returns a bad label or version.
    """
    with _locked(serving_dir):
        config = read(serving_dir) or model_server_config_pb2.ModelServerConfig()
        entry = _entry(config, model_name)
        current = (
            None
            if entry is None
            else {label: str(v) for label, v in sorted(entry.version_labels.items())}
        )
        new = change(current)
        built = model_config(serving_dir, model_name, new)
        if entry is None:
            config.model_config_list.config.add().CopyFrom(built)
        else:
            entry.CopyFrom(built)
        write(serving_dir, config)
        return dict(sorted(new.items()))


def labels_after_push(current: Labels | None, version: str, push_label: str) -> Labels:
    """The labels after a blessed version is pushed under ``push_label``.

    ``stable``: the version becomes stable and the canary is dropped (it was not
    promoted, and the new stable supersedes it). ``canary``: the version becomes the
    canary and stable stays, unless there is no stable yet (the first model), which
    then becomes stable: a canary needs a stable to be compared with.

    Args:
        current: The labels before (None or empty: no stable yet).
        version: The pushed version.
        push_label: ``stable`` or ``canary`` (the ``serving.push_label`` config).

    Returns:
        The new labels.

    Raises:
        ValueError: If ``push_label`` is neither.
    """
    if push_label not in LABELS:
        raise ValueError(f"push label {push_label!r} is not one of {', '.join(LABELS)}")
    stable = (current or {}).get(STABLE)
    if push_label == STABLE or stable is None or stable == version:
        return {STABLE: version}
    return {STABLE: stable, CANARY: version}


def _newest_other_version(base: Path, version: str) -> str | None:
    # Before this file existed TF Serving served the newest version directory.
    older = [
        p.name for p in base.iterdir() if p.is_dir() and p.name.isdigit() and p.name != version
    ]
    return max(older, key=int) if older else None


def label_push(base_directory: PathLike, version: str, push_label: str) -> str:
    """Labels a version the Pusher just published, in ``<base>/../models.config``.

    The model's entry is named after the base directory (``<serving_dir>/<model>``).
    A serving directory that has versions but no entry for the model yet (pushed
    before labels existed) was served its newest version: that one is taken as the
    stable version, so a canary push there does not become stable by accident.

    Args:
        base_directory: The model's directory (the Pusher's push destination).
        version: The published version.
        push_label: ``stable`` or ``canary``.

    Returns:
        The label the version got (``stable`` for the first model, even as canary).
    """
    base = Path(os.path.abspath(base_directory))

    def change(current: Labels | None) -> Labels:
        if current is None:
            previous = _newest_other_version(base, version)
            current = {} if previous is None else {STABLE: previous}
        return labels_after_push(current, version, push_label)

    new = update(base.parent, base.name, change)
    return CANARY if new.get(CANARY) == version else STABLE
