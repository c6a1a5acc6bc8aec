"""Reading a run directory for statistics: its store (samples, generations, verdicts) and manifest,
and which of its judge configurations a statistic uses.

Statistics only read runs, through `RunStore` and `manifest.json`; every problem a user can cause
(a wrong path, a run not yet judged, an unknown or ambiguous judge configuration) raises
`RunInputError` with a message that names the run and says what to do.

Judge configurations are never mixed silently: a report shows each configuration of a run as its own
row (`judge_choices`), and two runs are paired only under a configuration both were judged with
(`paired_judge_choices`). A configuration is named by its id or by any prefix that matches only it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from crosseval.data.records import Sample
from crosseval.engine import manifest as engine_manifest
from crosseval.engine.store import STORE_FILENAME, GenerationRecord, RunStore, VerdictRecord
from crosseval.errors import UserError


class RunInputError(UserError, ValueError):
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


ChoiceReason = Literal["requested", "only", "each", "shared"]
"""Why a judge configuration was used: named by the user; the run's only one; one row per configuration
of a run judged several ways; the one configuration two paired runs share."""


@dataclass(frozen=True)
class JudgeChoice:
    """The judge configuration a statistic uses, and why that one."""

    config: str
    reason: ChoiceReason
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


def resolve_judge_config(run: RunData, requested: str) -> str:
    """The run's judge configuration named `requested`, or the only one whose id begins with it."""
    available = run.judge_configs
    if requested in available:
        return requested
    matches = [config for config in available if config.startswith(requested)]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise RunInputError(
            f"{run.run_dir}: judge config {requested!r} is ambiguous; it begins {', '.join(matches)}",
            hint="give more of the judge config's id",
        )
    raise RunInputError(
        f"{run.run_dir}: no verdicts for judge config {requested!r}; available: {', '.join(available)}"
    )


def _available(run: RunData) -> tuple[str, ...]:
    if not run.judge_configs:
        raise RunInputError(
            f"{run.run_dir}: the run has no judge verdicts; run `crosseval judge {run.run_dir} --judge MODEL` first"
        )
    return tuple(run.judge_configs)


def judge_choices(run: RunData, requested: str | None = None) -> list[JudgeChoice]:
    """What a report of `run` shows: the requested configuration, else every one the run has."""
    available = _available(run)
    if requested is not None:
        return [JudgeChoice(resolve_judge_config(run, requested), "requested", available)]
    if len(available) == 1:
        return [JudgeChoice(available[0], "only", available)]
    return [JudgeChoice(config, "each", available) for config in available]


def choose_judge_config(run: RunData, requested: str | None = None) -> JudgeChoice:
    """The one configuration a statistic of one run uses: the requested one, else the run's only one.

    A run judged several ways needs `requested`: the error lists its configurations.
    """
    choices = judge_choices(run, requested)
    if len(choices) > 1:
        raise RunInputError(
            f"{run.run_dir}: the run was judged with {len(choices)} judge configs "
            f"({', '.join(choices[0].available)}); choose one with --judge-config"
        )
    return choices[0]


def paired_judge_choices(
    run_a: RunData, run_b: RunData, requested: Sequence[str] = ()
) -> tuple[JudgeChoice, JudgeChoice]:
    """The configurations two runs are paired under: the same one in both, unless named for each.

    `requested` empty: the one configuration both runs have; once: that one in both runs; twice: the
    first for A, the second for B, as asked. Raises `RunInputError` listing each run's configurations
    when the runs share none, or share several and none was named.
    """
    if len(requested) > 2:
        raise RunInputError(f"give --judge-config at most twice (once per run), got {len(requested)}")
    if requested:
        config_a, config_b = requested[0], requested[-1]
        return choose_judge_config(run_a, config_a), choose_judge_config(run_b, config_b)
    available_a, available_b = _available(run_a), _available(run_b)
    shared = [config for config in available_a if config in available_b]
    if len(shared) == 1:
        reason_a: ChoiceReason = "only" if len(available_a) == 1 else "shared"
        reason_b: ChoiceReason = "only" if len(available_b) == 1 else "shared"
        return JudgeChoice(shared[0], reason_a, available_a), JudgeChoice(shared[0], reason_b, available_b)
    if not shared:
        raise RunInputError(
            f"{run_a.run_dir} and {run_b.run_dir} were judged with no judge config in common, so their "
            f"results cannot be paired: {run_a.run_dir} has {', '.join(available_a)}; "
            f"{run_b.run_dir} has {', '.join(available_b)}",
            hint="judge both runs with the same judge (crosseval judge RUN --judge MODEL ...), "
            "or name one config per run with --judge-config twice",
        )
    raise RunInputError(
        f"{run_a.run_dir} and {run_b.run_dir} share {len(shared)} judge configs ({', '.join(shared)}); "
        "choose one with --judge-config"
    )


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


@dataclass(frozen=True)
class JudgeInfo:
    """What judged the scores of a report entry: the manifest's entry for the configuration, completed
    from the verdicts, and which configuration it is and why that one."""

    config: str
    model: str
    protocol: str
    chosen: ChoiceReason
    available: tuple[str, ...]
    manifest_entry: Mapping[str, Any] = field(default_factory=dict)
    """The manifest's `judges[config]` as written (rubric hash, parameters, times...)."""

    def as_dict(self) -> dict[str, Any]:
        """The manifest entry, `model` and `protocol` added when it lacks them, then the choice."""
        entry = dict(self.manifest_entry)
        entry.setdefault("model", self.model)
        entry.setdefault("protocol", self.protocol)
        entry["config"] = self.config
        entry["chosen"] = self.chosen
        entry["available"] = list(self.available)
        return entry


def judge_description(run: RunData, choice: JudgeChoice) -> JudgeInfo:
    """What judged under `choice`: the manifest's entry for the configuration, completed from the verdicts."""
    judges = run.manifest.get("judges")
    entry = judges.get(choice.config) if isinstance(judges, dict) else None
    entry = entry if isinstance(entry, dict) else {}
    verdicts = run.verdicts_of(choice.config)
    model, protocol = entry.get("model"), entry.get("protocol")
    return JudgeInfo(
        config=choice.config,
        model=model if isinstance(model, str) else ", ".join(sorted({v.judge_model for v in verdicts})),
        protocol=protocol if isinstance(protocol, str) else ", ".join(sorted({v.protocol for v in verdicts})),
        chosen=choice.reason,
        available=choice.available,
        manifest_entry=entry,
    )
