"""Task names -> tables (generators, families, groups), few-shot subsets, replay memory, errors."""

from __future__ import annotations

import pandas as pd
import pytest

from fakescope.continual.base import TaskData
from fakescope.continual.catalog import create_strategy
from fakescope.continual.replay import TASK
from fakescope.continual.tasks import build_tasks, select_task
from fakescope.data.schema import validate_table
from fakescope.errors import ConfigError, DataError


def _bench(n: int = 4) -> pd.DataFrame:
    """A benchmark-like table: generators dcgan/resize_gan (gan) and ddpm (diffusion)."""
    rows = []
    for gen, fam in (("dcgan", "gan"), ("resize_gan", "gan"), ("ddpm", "diffusion")):
        for split in ("train", "val", "test"):
            for label in (0, 1):
                for i in range(n):
                    rows.append(
                        {
                            "path": f"/b/{gen}/{split}/{label}/{i}.png",
                            "label": label,
                            "generator": gen,
                            "family": fam,
                            "split": split,
                        }
                    )
    return validate_table(pd.DataFrame(rows))


def test_generator_family_and_group_tasks() -> None:
    table = _bench()
    dcgan = select_task(table, "dcgan")
    assert set(dcgan.generator) == {"dcgan"} and set(dcgan.label) == {0, 1}
    gan = select_task(table, "gan")  # family: both GANs with their paired reals
    assert set(gan.generator) == {"dcgan", "resize_gan"} and len(gan) == 2 * len(dcgan)
    group = select_task(table, "dcgan+ddpm")
    assert set(group.generator) == {"dcgan", "ddpm"}
    assert set(select_task(table, "dcgan_ddpm").generator) == {"dcgan", "ddpm"}  # CoReD's A_B


def test_unknown_task_lists_the_valid_names() -> None:
    with pytest.raises(DataError, match=r"unknown task 'stylegan'.*dcgan, ddpm, resize_gan.*gan"):
        select_task(_bench(), "stylegan")


def test_few_shot_applies_to_later_tasks_and_checks_counts() -> None:
    table = _bench(n=4)
    tasks = build_tasks(table, ["dcgan", "ddpm"], shots=2)
    assert len(tasks[0].train) == 8  # first task: all of it
    assert tasks[1].train.label.value_counts().to_dict() == {0: 2, 1: 2}
    assert tasks[1].test.split.unique().tolist() == ["test"]
    with pytest.raises(DataError, match=r"fewer than --shots 5; lower --shots to at most 4"):
        build_tasks(table, ["dcgan", "ddpm"], shots=5)


def test_one_class_task_and_repeats_are_errors() -> None:
    table = _bench()
    only_fakes = table[~((table.generator == "ddpm") & (table.label == 0))]
    with pytest.raises(DataError, match=r"task 'ddpm' has only fake training images"):
        build_tasks(only_fakes, ["dcgan", "ddpm"])
    with pytest.raises(DataError, match="appear twice"):
        build_tasks(table, ["dcgan", "dcgan"])


def test_val_stands_in_for_a_missing_test_split() -> None:
    table = _bench()
    table = table[table.split != "test"]
    (task,) = build_tasks(table, ["dcgan"])
    assert task.test.split.unique().tolist() == ["val"]


def test_replay_memory_is_class_balanced_and_shared_by_tasks() -> None:
    table = _bench(n=8)
    tasks = build_tasks(table, ["dcgan", "resize_gan", "ddpm"])
    replay = create_strategy("replay", {"size": 12})
    for i, t in enumerate(tasks):
        data = TaskData(t.name, i, t.train, t.val, t.test, lambda r: [])
        if i:
            rows = replay.train_rows(data)
            assert len(rows) == len(t.train) + len(replay.memory)  # type: ignore[attr-defined]
        replay.after_task(None, data)  # type: ignore[arg-type]
    memory = replay.memory  # type: ignore[attr-defined]
    assert len(memory) == 12
    assert memory.label.value_counts().to_dict() == {0: 6, 1: 6}
    assert memory.groupby([TASK, "label"]).size().tolist() == [2] * 6  # 3 tasks x 2 classes


def test_memory_smaller_than_the_classes_is_an_error() -> None:
    with pytest.raises(ConfigError, match=r"cannot hold one image per class.*--memory 2 or more"):
        create_strategy("replay", {"size": 1})
