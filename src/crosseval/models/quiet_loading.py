"""Loading and training transformers models without noise the user can do nothing about.

transformers draws a bar over the tensors of every checkpoint it loads ("Loading weights"); around
crosseval's own progress display it is noise, and in logs a wall of carriage returns. peft and trl read
attributes transformers has renamed (`is_gradient_checkpointing`) and transformers answers each read with
a FutureWarning that only a new peft or trl release can fix. Inside `quiet_transformers()` both are
hidden; on leaving, what was there before is restored.

Everything else is left alone: huggingface_hub's download bars (a first download of a large model still
shows its progress), other warnings (weights that did not match still reach the user), logging levels.
(transformers releases without `set_tqdm_hook` can only switch all of their bars off, downloads
included; there the block does that.)
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

WEIGHT_LOADING_BARS: frozenset[str] = frozenset({"Loading weights", "Loading checkpoint shards"})
"""Descriptions of the transformers progress bars drawn while loading a checkpoint."""

THIRD_PARTY_DEPRECATIONS: tuple[str, ...] = (r"`is_gradient_checkpointing` is deprecated",)
"""FutureWarnings (message regexes) raised when peft or trl read transformers' old names."""

TqdmHook = Callable[[Callable[..., Any], tuple[Any, ...], dict[str, Any]], Any]

_lock = threading.Lock()
_depth = 0
"""Blocks inside `quiet_transformers` now: several threads may load models at once, and the first to
enter installs the quieting that the last to leave removes."""
_undo: ExitStack | None = None


def _hiding_weight_bars(previous: TqdmHook | None) -> TqdmHook:
    def hook(factory: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if kwargs.get("desc") in WEIGHT_LOADING_BARS:
            kwargs = {**kwargs, "disable": True}
        if previous is not None:
            return previous(factory, args, kwargs)
        return factory(*args, **kwargs)

    return hook


def _hide_weight_bars(hf_logging: Any, undo: ExitStack) -> None:
    set_hook = getattr(hf_logging, "set_tqdm_hook", None)
    if set_hook is not None:
        previous = set_hook(None)
        set_hook(_hiding_weight_bars(previous))
        undo.callback(set_hook, previous)
        return
    if hf_logging.is_progress_bar_enabled():
        hf_logging.disable_progress_bar()
        undo.callback(hf_logging.enable_progress_bar)


def _quiet() -> ExitStack:
    """Installs the quieting; closing the returned stack removes it."""
    undo = ExitStack()
    undo.enter_context(warnings.catch_warnings())
    for message in THIRD_PARTY_DEPRECATIONS:
        warnings.filterwarnings("ignore", message=message, category=FutureWarning)
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:
        return undo
    _hide_weight_bars(hf_logging, undo)
    return undo


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Hides transformers' weight-loading bars and peft/trl's rename FutureWarnings inside the block."""
    global _depth, _undo
    with _lock:
        if _depth == 0:
            _undo = _quiet()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _undo is not None:
                _undo.close()
                _undo = None
