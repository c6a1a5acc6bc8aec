"""Reading a run directory for statistics: its store (samples, generations, verdicts) and manifest.

Statistics only read runs, through `RunStore` and `manifest.json`; every problem a user can cause
(a wrong path, a run not yet judged, an unknown judge configuration) raises `RunInputError` with a
message that names the run and says what to do.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crosseval.data.records import Sample
from crosseval.engine import manifest as engine_manifest
from crosseval.engine.store import STORE_FILENAME, GenerationRecord, RunStore, VerdictRecord


class RunInputError(ValueError):
    """A run directory (or a file given with it) cannot be used as asked; the message says why."""


@dataclass(frozen=True)
class RunData:
    """Everything statistics need from one run directory, read once."""

    run_dir: Path
    manifest: dict[str, Any]
    samples: list[Sample]
    generations: list[GenerationRecord]
    verdicts: list[VerdictRecord]
    judge_configs: list[str]
    """Judge configurations with verdicts, oldest first."""

    def verdicts_of(self, judge_config: str) -> list[VerdictRecord]:
        return [v for v in self.verdicts if v.judge_config == judge_config]


@dataclass(frozen=True)
class JudgeChoice:
    """The judge configuration a statistic uses, and why that one."""

    config: str
    reason: Literal["requested", "only", "most_recent"]
    available: tuple[str, ...]


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, or {} when the run has none; an unreadable one is a `RunInputError` naming the file."""
    try:
        return engine_manifest.read_manifest(run_dir)
    except engine_manifest.ManifestError as exc:
        raise RunInputError(str(exc)) from exc


def load_run(run_dir: Path) -> RunData:
    """Reads a run directory; raises `RunInputError` when it is not a run or holds no responses."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise RunInputError(f"{run_dir}: no such run directory")
    if not RunStore.exists(run_dir):
        raise RunInputError(
            f"{run_dir}: not a run directory (no {STORE_FILENAME}); run `crosseval generate` first"
        )
    manifest = read_manifest(run_dir)
    with RunStore.open_for_reading(run_dir) as store:
        samples = store.samples()
        generations = store.generations()
        verdicts = store.verdicts()
        configs = store.judge_configs()
    if not samples:
        raise RunInputError(f"{run_dir}: the run has no samples")
    if not generations:
        raise RunInputError(f"{run_dir}: the run has no responses; run `crosseval generate` on it first")
    return RunData(run_dir, manifest, samples, generations, verdicts, configs)


def choose_judge_config(run: RunData, requested: str | None = None) -> JudgeChoice:
    """The requested judge configuration, else the run's only one, else the most recently started one."""
    available = tuple(run.judge_configs)
    if not available:
        raise RunInputError(
            f"{run.run_dir}: the run has no judge verdicts; run `crosseval judge {run.run_dir} --judge MODEL` first"
        )
    if requested is not None:
        if requested not in available:
            raise RunInputError(
                f"{run.run_dir}: no verdicts for judge config {requested!r}; available: {', '.join(available)}"
            )
        return JudgeChoice(requested, "requested", available)
    if len(available) == 1:
        return JudgeChoice(available[0], "only", available)
    return JudgeChoice(available[-1], "most_recent", available)


def _label(value: Any) -> str | None:
    """A display name for a model entry of the manifest: a string, or an identity mapping."""
    if isinstance(value, str) and value:
        return value
    if isinstance(value, dict):
        for key in ("id", "name", "model_string", "model"):
            inner = value.get(key)
            if isinstance(inner, str) and inner:
                provider = value.get("provider")
                if key == "model" and isinstance(provider, str) and provider and "/" not in inner:
                    return f"{provider}/{inner}"
                return inner
            if isinstance(inner, dict):
                return _label(inner)
    return None


def model_name(run: RunData) -> str:
    """The model under test: from the manifest's `generation` section, else from the stored generations.

    A run of a base model with a PEFT adapter is named `BASE + ADAPTER` (`hf/qwen + adapters/sft`), so a
    before/after comparison of one base model tells its two sides apart.
    """
    generation = run.manifest.get("generation")
    if isinstance(generation, dict):
        for key in ("model", "identity", "model_identity"):
            label = _label(generation.get(key))
            if label:
                adapter = generation.get("adapter")
                return f"{label} + {adapter}" if isinstance(adapter, str) and adapter else label
    models = sorted({g.model for g in run.generations})
    return ", ".join(models) if models else "unknown"


def judge_description(run: RunData, choice: JudgeChoice) -> dict[str, Any]:
    """What judged: the manifest's entry for the configuration, completed from the verdicts."""
    entry: dict[str, Any] = {}
    judges = run.manifest.get("judges")
    if isinstance(judges, dict) and isinstance(judges.get(choice.config), dict):
        entry = dict(judges[choice.config])
    verdicts = run.verdicts_of(choice.config)
    if "model" not in entry:
        models = sorted({v.judge_model for v in verdicts})
        entry["model"] = ", ".join(models)
    if "protocol" not in entry:
        protocols = sorted({v.protocol for v in verdicts})
        entry["protocol"] = ", ".join(protocols)
    entry["config"] = choice.config
    entry["chosen"] = choice.reason
    entry["available"] = list(choice.available)
    return entry
