"""`quiet_transformers`: no weight-loading bars or peft/trl rename warnings inside, everything else as it was."""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

import pytest

from crosseval.models.quiet_loading import quiet_transformers

pytest.importorskip("transformers")

from transformers.utils import logging as hf_logging

from tests.helpers.tiny_vlm import build_tiny_llava

RENAMED = "`is_gradient_checkpointing` is deprecated and will be removed in v6."


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


def test_the_weight_loading_bar_is_hidden_inside_and_shown_outside(
    tiny_llava: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from transformers import AutoModelForImageTextToText

    capsys.readouterr()
    with quiet_transformers():
        AutoModelForImageTextToText.from_pretrained(tiny_llava)
    inside = capsys.readouterr().err
    AutoModelForImageTextToText.from_pretrained(tiny_llava)
    outside = capsys.readouterr().err

    assert "Loading weights" not in inside
    assert "Loading weights" in outside


def test_other_bars_still_show_and_a_users_hook_still_runs_and_comes_back(
    capsys: pytest.CaptureFixture[str],
) -> None:
    seen: list[str | None] = []

    def users_hook(factory: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        seen.append(kwargs.get("desc"))
        return factory(*args, **kwargs)

    before = hf_logging.set_tqdm_hook(users_hook)
    try:
        with quiet_transformers():
            for _ in hf_logging.tqdm(range(3), desc="Loading weights"):
                pass
            for _ in hf_logging.tqdm(range(3), desc="Training"):
                pass
        restored = hf_logging.set_tqdm_hook(users_hook)
    finally:
        hf_logging.set_tqdm_hook(before)

    assert restored is users_hook
    assert seen == ["Loading weights", "Training"]
    err = capsys.readouterr().err
    assert "Training" in err and "Loading weights" not in err


def test_only_the_known_rename_warnings_are_silenced_and_only_inside() -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with quiet_transformers():
            warnings.warn(RENAMED, FutureWarning, stacklevel=1)
            warnings.warn("`old_option` is deprecated", FutureWarning, stacklevel=1)
        warnings.warn(RENAMED, FutureWarning, stacklevel=1)

    assert [str(w.message) for w in caught] == ["`old_option` is deprecated", RENAMED]


def test_overlapping_blocks_in_threads_restore_everything_when_the_last_one_leaves() -> None:
    before = hf_logging.set_tqdm_hook(None)
    hf_logging.set_tqdm_hook(before)
    first_inside, second_inside, first_left = threading.Event(), threading.Event(), threading.Event()
    hooks: dict[str, Any] = {}

    def first() -> None:
        with quiet_transformers():
            first_inside.set()
            second_inside.wait(5)
        first_left.set()

    def second() -> None:
        first_inside.wait(5)
        with quiet_transformers():
            second_inside.set()
            first_left.wait(5)
            hooks["after the first left"] = _current_hook()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert hooks["after the first left"] is not before  # still quiet: the second block was inside
    assert _current_hook() is before


def _current_hook() -> Any:
    hook = hf_logging.set_tqdm_hook(None)
    hf_logging.set_tqdm_hook(hook)
    return hook
