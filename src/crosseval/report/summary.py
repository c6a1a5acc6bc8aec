"""The report as data: one JSON-ready dict per call, consumed by the tables, the HTML report and `--json`.

Shape (rates in percent, 0-100; each statistic is `{"mean", "std", "ci_low", "ci_high", "n",
"per_round"}` with `mean` the mean over rounds of each round's rate, `std` the standard deviation
over rounds (null with one round), the interval a cluster bootstrap over base items, and `n` the
number of `ok` verdicts behind it):

    {"runs": [{"run_dir", "model", "judge", "n_samples", "rounds",
               "scores": {SUBSET: {SETTING: {DIMENSION: stat}}},
               "overall": {DIMENSION: stat},
               "unscored": {...}, "breakdowns": {KEY: {GROUP: {DIMENSION: stat}}},
               "language_pairs": {LANGUAGE: {"english": {DIMENSION: stat}, "multilingual": {...}}},
               "usage": {"model": {...}, "judge": {...}}, "manifest": {...}}],
     "dimensions": [...], "breakdown_keys": [...], "bootstrap": {...}}

`run["judge"]` is a dict: the manifest's entry for the judge configuration plus `config` (its id),
`chosen` (`requested`, `only` or `most_recent`) and `available`.
`run["language_pairs"]` compares, per translated language, the same base items asked in English and in
that language (see `crosseval.metrics.breakdowns.language_pairs`); the `language` breakdown
cannot, since it puts every English-setting sample under `English`. `build_comparison` and
`build_agreement` produce the data of `crosseval compare` and `crosseval agreement`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from crosseval.engine.store import Dimension
from crosseval.metrics.aggregate import BootstrapSettings, RateSummary, summarize_dimensions
from crosseval.metrics.agreement import DimensionAgreement, agreement, check_same_responses, judge_labels
from crosseval.metrics.breakdowns import (
    BREAKDOWN_KEYS,
    BreakdownKey,
    breakdown,
    language_pairs,
    scores_by_subset_setting,
)
from crosseval.metrics.labels import read_labels
from crosseval.metrics.observations import (
    REPORTED_DIMENSIONS,
    Observation,
    ReportedDimension,
    build_observations,
)
from crosseval.metrics.paired import check_same_samples, paired_comparison
from crosseval.metrics.runs import (
    JudgeChoice,
    RunData,
    RunInputError,
    choose_judge_config,
    judge_description,
    load_run,
    model_name,
)
from crosseval.metrics.unscored import count_unscored
from crosseval.metrics.usage import token_usage


def _stats(summaries: Mapping[ReportedDimension, RateSummary]) -> dict[str, dict[str, Any]]:
    return {dimension: summary.as_dict() for dimension, summary in summaries.items()}


def run_report(
    run: RunData,
    *,
    judge_config: str | None,
    settings: BootstrapSettings,
    breakdown_keys: Sequence[BreakdownKey] = BREAKDOWN_KEYS,
) -> dict[str, Any]:
    """The report entry of one loaded run."""
    choice = choose_judge_config(run, judge_config)
    verdicts = run.verdicts_of(choice.config)
    observations = build_observations(run.samples, run.generations, verdicts)
    cells = scores_by_subset_setting(run.samples, observations, settings)
    return {
        "run_dir": str(run.run_dir),
        "model": model_name(run),
        "judge": judge_description(run, choice),
        "n_samples": len(run.samples),
        "rounds": sorted({g.round for g in run.generations}),
        "scores": {
            subset: {setting: _stats(cell) for setting, cell in by_setting.items()}
            for subset, by_setting in cells.items()
        },
        "overall": _stats(summarize_dimensions(observations, settings)),
        "unscored": count_unscored(run.samples, run.generations, verdicts).as_dict(),
        "breakdowns": {key: _breakdown_dict(key, observations, settings) for key in breakdown_keys},
        "language_pairs": {
            language: {setting: _stats(cell) for setting, cell in by_setting.items()}
            for language, by_setting in language_pairs(run.samples, observations, settings).items()
        },
        "usage": token_usage(run.generations, verdicts),
        "manifest": run.manifest,
    }


def _breakdown_dict(
    key: BreakdownKey, observations: Sequence[Observation], settings: BootstrapSettings
) -> dict[str, Any]:
    return {group: _stats(cell) for group, cell in breakdown(key, observations, settings).items()}


def build_report(
    run_dirs: Sequence[Path],
    *,
    judge_config: str | None = None,
    bootstrap_reps: int = 2000,
    seed: int = 0,
    breakdown_keys: Sequence[BreakdownKey] = BREAKDOWN_KEYS,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """The report of one or more runs (one entry each, in the order given).

    `judge_config` picks the verdicts to score in every run; by default a run's only judge
    configuration, else its most recently started one (each entry's `judge.chosen` says which rule
    applied). Raises `RunInputError` for a path that is not a run, a run without responses or
    verdicts, or a judge configuration a run does not have.
    """
    if not run_dirs:
        raise RunInputError("no run directories given")
    settings = BootstrapSettings(reps=bootstrap_reps, seed=seed, confidence=confidence)
    runs = [load_run(Path(d)) for d in run_dirs]
    return {
        "runs": [
            run_report(run, judge_config=judge_config, settings=settings, breakdown_keys=breakdown_keys)
            for run in runs
        ],
        "dimensions": list(REPORTED_DIMENSIONS),
        "breakdown_keys": list(breakdown_keys),
        "bootstrap": {
            "reps": settings.reps,
            "seed": settings.seed,
            "confidence": settings.confidence,
            "cluster": "base_id",
        },
    }


def _run_identity(run: RunData, choice: JudgeChoice) -> dict[str, Any]:
    return {"run_dir": str(run.run_dir), "model": model_name(run), "judge": judge_description(run, choice)}


def _pick_two(configs: Sequence[str]) -> tuple[str | None, str | None]:
    """`--judge-config` given once applies to both runs; given twice, in order, to A then B."""
    if len(configs) > 2:
        raise RunInputError(f"give --judge-config at most twice (once per run), got {len(configs)}")
    if not configs:
        return None, None
    return (configs[0], configs[0]) if len(configs) == 1 else (configs[0], configs[1])


def build_comparison(
    run_a: Path,
    run_b: Path,
    *,
    judge_configs: Sequence[str] = (),
    bootstrap_reps: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> dict[str, Any]:
    """Paired comparison of two runs over the same samples (A - B per dimension, McNemar tests).

    Raises `RunInputError` when the runs cover different samples or datasets.
    """
    settings = BootstrapSettings(reps=bootstrap_reps, seed=seed, confidence=confidence)
    a, b = load_run(Path(run_a)), load_run(Path(run_b))
    check_same_samples(str(a.run_dir), a.samples, str(b.run_dir), b.samples)
    config_a, config_b = _pick_two(judge_configs)
    choice_a, choice_b = choose_judge_config(a, config_a), choose_judge_config(b, config_b)
    obs_a = build_observations(a.samples, a.generations, a.verdicts_of(choice_a.config))
    obs_b = build_observations(b.samples, b.generations, b.verdicts_of(choice_b.config))
    result = paired_comparison(obs_a, obs_b, settings)
    return {
        "run_a": _run_identity(a, choice_a),
        "run_b": _run_identity(b, choice_b),
        "n_samples": len(a.samples),
        "dimensions": {d: r.as_dict() for d, r in result.items()},
        "unscored": {
            "run_a": count_unscored(a.samples, a.generations, a.verdicts_of(choice_a.config)).as_dict(),
            "run_b": count_unscored(b.samples, b.generations, b.verdicts_of(choice_b.config)).as_dict(),
        },
        "method": {
            "difference": "mean over rounds of A minus that of B, in percentage points",
            "interval": "paired cluster bootstrap over base items (both runs resampled alike)",
            "test": "exact McNemar on per-sample majority over rounds; tied samples excluded",
        },
        "bootstrap": {"reps": settings.reps, "seed": settings.seed, "confidence": settings.confidence},
    }


def build_agreement(
    run_a: Path,
    run_b: Path | None = None,
    *,
    labels: Path | None = None,
    judge_configs: Sequence[str] = (),
) -> dict[str, Any]:
    """Judge agreement, per judge dimension, between:

    - two judge configurations of one run (`run_b` and `labels` unset; name both, or the run has
      exactly two, compared oldest as A against newest as B);
    - two runs over the same responses (`run_b`; `judge_configs` as in `build_comparison`);
    - one run's judge and human labels (`labels`, a CSV; see `crosseval.metrics.labels`).
    """
    a = load_run(Path(run_a))
    if labels is not None:
        if run_b is not None:
            raise RunInputError("give a second run or --labels, not both")
        if len(judge_configs) > 1:
            raise RunInputError("with --labels, give --judge-config at most once")
        choice = choose_judge_config(a, judge_configs[0] if judge_configs else None)
        human = read_labels(Path(labels), a)
        source_b: dict[str, Any] = {"source": "labels", "path": str(labels), "labels": len(human)}
        result = agreement(judge_labels(a, choice.config), human)
        return _agreement_dict(_judge_source(a, choice), source_b, result)
    if run_b is not None:
        b = load_run(Path(run_b))
        check_same_responses(a, b)
        config_a, config_b = _pick_two(judge_configs)
    else:
        b = a
        config_a, config_b = _two_judge_configs(a, judge_configs)
    choice_a, choice_b = choose_judge_config(a, config_a), choose_judge_config(b, config_b)
    result = agreement(judge_labels(a, choice_a.config), judge_labels(b, choice_b.config))
    return _agreement_dict(_judge_source(a, choice_a), _judge_source(b, choice_b), result)


def _two_judge_configs(run: RunData, judge_configs: Sequence[str]) -> tuple[str, str]:
    """The two judge configurations of one run to compare: the two named, or the run's only two."""
    available = run.judge_configs
    if len(judge_configs) == 2:
        first, second = judge_configs
    elif not judge_configs and len(available) == 2:
        first, second = available
    else:
        raise RunInputError(
            f"{run.run_dir}: name the two judge configs to compare with --judge-config twice "
            f"(available: {', '.join(available) or 'none'}), or give a second run or --labels"
        )
    if first == second:
        raise RunInputError(f"{run.run_dir}: compare two different judge configs, got {first!r} twice")
    return first, second


def _judge_source(run: RunData, choice: JudgeChoice) -> dict[str, Any]:
    return {"source": "judge", **_run_identity(run, choice)}


def _agreement_dict(
    source_a: dict[str, Any], source_b: dict[str, Any], result: Mapping[Dimension, DimensionAgreement]
) -> dict[str, Any]:
    return {"a": source_a, "b": source_b, "dimensions": {d: r.as_dict() for d, r in result.items()}}
