"""A disk that fills up in the middle of a real run: one paragraph, nothing pushed.

The small filesystem is a real tmpfs mounted for the test (root only, as in CI);
it has room for the first components' outputs, not for the whole run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import ENV_DATA_ROOT, load_config, with_env_overrides
from tests.support.config import write_clicks_config
from tests.support.mounts import Mount


@pytest.mark.requires_root("mounts tmpfs filesystems")
def test_a_disk_filling_up_mid_run_gives_one_paragraph_and_pushes_nothing(
    tmpfs: Mount, tmp_path: Path, one_day: Path
) -> None:
    from pipeline.run.local import PipelineRunError, run

    # Room for the first components' outputs, not for the whole run: the check
    # passes (min_free_mb 0) and a component then hits ENOSPC (StatisticsGen, here).
    mount = tmpfs("small", size="64k")
    source = write_clicks_config(
        tmp_path,
        pipeline_root=mount / "pipe",
        serving_dir=tmp_path / "serving",
        metadata_path=tmp_path / "md" / "clicks.sqlite",
        min_free_mb=0,
    )
    config = with_env_overrides(load_config(source), {ENV_DATA_ROOT: str(one_day)})
    with pytest.raises(PipelineRunError) as caught:
        run(config, {})
    message = str(caught.value)
    print(f"\n{message}")
    assert "\n" not in message
    assert "No space left on device" in message
    assert (
        f"A disk filled up during the run: the pipeline root {mount / 'pipe'} (set by "
        f"outputs.pipeline_root in {source}) is the fullest output directory, "
    ) in message
    assert "Nothing was pushed by this run and the served model is unchanged" in message
    assert caught.value.summary is not None  # the components before it did run
    assert not config.push_dir.exists() or list(config.push_dir.iterdir()) == []
