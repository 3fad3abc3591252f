"""The Evaluator's baseline resolver (components.resolvers) on real TFX artifacts."""

from __future__ import annotations

import pytest
from tfx.types import standard_artifacts

from components.resolvers import (
    BLESSING_KEY,
    CANDIDATE_KEY,
    MODEL_KEY,
    LatestBlessedOtherModelStrategy,
)


def _model(artifact_id: int) -> standard_artifacts.Model:
    model = standard_artifacts.Model()
    model.id = artifact_id
    model.uri = f"/pipeline/Trainer/model/{artifact_id}"
    return model


def _blessing(model_id: int, blessed: bool = True, artifact_id: int | None = None):
    blessing = standard_artifacts.ModelBlessing()
    blessing.id = artifact_id if artifact_id is not None else 100 + model_id
    blessing.set_int_custom_property("blessed", 1 if blessed else 0)
    blessing.set_int_custom_property("current_model_id", model_id)
    return blessing


def _resolve(models, blessings, candidate):
    input_dict = {MODEL_KEY: models, BLESSING_KEY: blessings, CANDIDATE_KEY: candidate}
    return LatestBlessedOtherModelStrategy().resolve_artifacts(None, input_dict)


def _ids(artifacts) -> list[int]:
    return [artifact.id for artifact in artifacts]


def test_no_blessed_models_gives_no_baseline() -> None:
    models = [_model(1), _model(2), _model(3)]
    result = _resolve(models, [], [models[2]])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []


def test_only_unblessed_blessings_give_no_baseline() -> None:
    models = [_model(1), _model(2), _model(3)]
    result = _resolve(models, [_blessing(1, False), _blessing(2, False)], [models[2]])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []


def test_no_models_at_all() -> None:
    result = _resolve([], [], [])
    assert result == {MODEL_KEY: [], BLESSING_KEY: [], CANDIDATE_KEY: []}


def test_latest_blessed_model_other_than_candidate() -> None:
    models = [_model(1), _model(2), _model(3)]
    blessings = [_blessing(1), _blessing(2)]
    result = _resolve(models, blessings, [models[2]])
    assert _ids(result[MODEL_KEY]) == [2]
    assert result[MODEL_KEY][0] is models[1]
    assert result[BLESSING_KEY] == [blessings[1]]


def test_order_of_inputs_does_not_matter() -> None:
    models = [_model(2), _model(3), _model(1)]
    blessings = [_blessing(2), _blessing(1)]
    result = _resolve(models, blessings, [_model(3)])
    assert _ids(result[MODEL_KEY]) == [2]


def test_candidate_that_is_the_latest_blessed_is_excluded() -> None:
    # A cached rerun: the Trainer's output (2) was blessed on the first run; the
    # baseline must stay what it was then (1), not the candidate itself.
    models = [_model(1), _model(2)]
    blessings = [_blessing(1), _blessing(2)]
    result = _resolve(models, blessings, [models[1]])
    assert _ids(result[MODEL_KEY]) == [1]
    assert result[BLESSING_KEY] == [blessings[0]]


def test_candidate_as_a_distinct_artifact_object_with_the_same_id_is_excluded() -> None:
    # The candidate channel and the all-models channel hold different Python
    # objects for the same MLMD artifact; exclusion is by id.
    models = [_model(1), _model(2)]
    result = _resolve(models, [_blessing(1), _blessing(2)], [_model(2)])
    assert _ids(result[MODEL_KEY]) == [1]


def test_candidate_is_the_only_blessed_model() -> None:
    models = [_model(1), _model(2)]
    result = _resolve(models, [_blessing(2)], [models[1]])
    assert result[MODEL_KEY] == []
    assert result[BLESSING_KEY] == []


def test_unblessed_blessing_is_ignored() -> None:
    models = [_model(1), _model(2), _model(3), _model(4)]
    blessings = [_blessing(1), _blessing(2, blessed=False), _blessing(3, blessed=False)]
    result = _resolve(models, blessings, [models[3]])
    assert _ids(result[MODEL_KEY]) == [1]
    assert result[BLESSING_KEY] == [blessings[0]]


def test_blessing_for_an_unknown_model_is_ignored() -> None:
    models = [_model(1), _model(2)]
    result = _resolve(models, [_blessing(1), _blessing(99)], [models[1]])
    assert _ids(result[MODEL_KEY]) == [1]


@pytest.mark.parametrize(
    ("models", "blessings", "candidate"),
    [
        ([], [], []),
        ([1, 2], [], [2]),
        ([1, 2, 3], [1, 2], [3]),
        ([1, 2], [1, 2], [2]),
        ([1, 2], [2], [2]),
    ],
)
def test_candidate_key_is_always_passed_through_unchanged(models, blessings, candidate) -> None:
    all_models = [_model(i) for i in models]
    candidates = [m for m in all_models if m.id in candidate]
    result = _resolve(all_models, [_blessing(i) for i in blessings], candidates)
    assert set(result) == {MODEL_KEY, BLESSING_KEY, CANDIDATE_KEY}
    assert len(result[CANDIDATE_KEY]) == len(candidates)
    assert all(a is b for a, b in zip(result[CANDIDATE_KEY], candidates))


def test_input_lists_are_not_mutated() -> None:
    models = [_model(1), _model(3), _model(2)]
    blessings = [_blessing(1), _blessing(3)]
    candidate = [models[2]]
    input_dict = {MODEL_KEY: models, BLESSING_KEY: blessings, CANDIDATE_KEY: candidate}
    LatestBlessedOtherModelStrategy().resolve_artifacts(None, input_dict)
    assert _ids(input_dict[MODEL_KEY]) == [1, 3, 2]
    assert _ids(input_dict[BLESSING_KEY]) == [101, 103]
    assert _ids(input_dict[CANDIDATE_KEY]) == [2]
