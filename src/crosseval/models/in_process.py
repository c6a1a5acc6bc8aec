"""What the in-process backends (hf, vLLM offline) share: a model loaded on first use, and batched calls.

Such a backend is cheap to build: it checks its options and hashes its adapter, so `identity` is known
at once, and loads the model (minutes for a large one) only when something needs it: `load()`, which
the engine calls once there is something to send, or else the first batch. The load runs once, however
many callers arrive together, and a failure is a `ConfigError` for all of them. Concurrent `generate`
calls are gathered by a `MicroBatcher` and run as batches in a worker thread, one batch at a time.
"""

from __future__ import annotations

import hashlib
import importlib.util
import sys
from abc import ABC, abstractmethod
from collections.abc import Sequence
from pathlib import Path
from typing import Generic, TypeVar

from crosseval.models.errors import ConfigError
from crosseval.models.load_once import LoadOnce
from crosseval.models.micro_batcher import MicroBatcher
from crosseval.models.types import BackendError, GenerationRequest, GenerationResult

Loaded = TypeVar("Loaded")


def module_available(name: str) -> bool:
    """Whether `name` can be imported, without importing it (torch, transformers, vllm take seconds)."""
    if name in sys.modules:
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def directory_sha256(directory: Path) -> str:
    """sha256 over every file below `directory` (relative path and bytes), in sorted order."""
    digest = hashlib.sha256()
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest.update(path.relative_to(directory).as_posix().encode())
        digest.update(b"\0")
        with path.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0")
    return digest.hexdigest()


def checked_adapter_sha256(adapter: Path) -> str:
    """The sha256 of a PEFT adapter folder (it goes into cache keys); a `ConfigError` if it is not one."""
    if not (adapter / "adapter_config.json").is_file():
        raise ConfigError(f"{adapter} is not a PEFT adapter folder (no adapter_config.json)")
    return directory_sha256(adapter)


class InProcessBackend(ABC, Generic[Loaded]):
    """A backend whose model lives in this process: loaded on first use, once; calls run in batches.

    Subclasses say how to load (`_load`, run in a worker thread) and how to run one batch with what
    was loaded (`_run_batch`). `_load_failure` opens the message of a load that fails unexpectedly
    (out of memory, a corrupt file); a `ConfigError` from `_load` reaches callers as it is.
    """

    _load_failure: str

    def __init__(self, *, batch_size: int, max_wait_s: float) -> None:
        self._loader: LoadOnce[Loaded] = LoadOnce(self._load_explained)
        self._batcher: MicroBatcher[GenerationRequest, GenerationResult] = MicroBatcher(
            self._run_loaded_batch, max_batch=batch_size, max_wait_s=max_wait_s
        )

    @abstractmethod
    def _load(self) -> Loaded: ...

    @abstractmethod
    def _run_batch(
        self, loaded: Loaded, requests: Sequence[GenerationRequest]
    ) -> list[GenerationResult | BackendError]: ...

    def _load_explained(self) -> Loaded:
        try:
            return self._load()
        except ConfigError:
            raise
        except Exception as error:  # anything else is still a load failure, reported as one
            raise ConfigError(f"{self._load_failure}: {type(error).__name__}: {error}") from error

    def _run_loaded_batch(self, requests: list[GenerationRequest]) -> list[GenerationResult | BackendError]:
        return self._run_batch(self._loader.get(), requests)

    @property
    def loaded(self) -> bool:
        """Whether the model has been loaded (or failed to load)."""
        return self._loader.loaded

    async def load(self) -> None:
        """Loads the model now, once (later calls return at once); `ConfigError` if it cannot load."""
        await self._loader.aget()

    @property
    def batch_sizes(self) -> list[int]:
        """Size of every batch run so far."""
        return self._batcher.batch_sizes

    async def generate(self, request: GenerationRequest) -> GenerationResult:
        """One answer. The first batch loads the model if `load` has not; if it cannot, every request of
        the batch (and every later one) raises the load's `ConfigError`, never a `BackendError`."""
        return await self._batcher.submit(request)

    async def aclose(self) -> None:
        await self._batcher.aclose()
