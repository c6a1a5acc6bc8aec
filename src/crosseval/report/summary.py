"""The report of judged runs as data: `build_report` reads run directories and returns a typed
`crosseval.report.model.Report`, which the terminal, Markdown, CSV, JSON and HTML writers render.

A run judged with several judge configurations gets one row per configuration, each labelled with
it, unless `judge_config` names one (by its id or an unambiguous prefix); scores of different
configurations are never merged or silently dropped. `crosseval compare` and `crosseval agreement`
build theirs in `crosseval.report.comparisons`.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crosseval.metrics.aggregate import BootstrapSettings, summarize_dimensions
from crosseval.metrics.breakdowns import (
    BREAKDOWN_KEYS,
    BreakdownKey,
    breakdown,
    language_pairs,
    scores_by_subset_setting,
)
from crosseval.metrics.observations import build_observations
from crosseval.metrics.runs import (
    JudgeChoice,
    RunData,
    RunInputError,
    judge_choices,
    judge_description,
    load_run,
    model_name,
)
from crosseval.metrics.unscored import count_unscored, unscored_by_language
from crosseval.metrics.usage import token_usage
from crosseval.report.model import Report, RunReport


def run_report(
    run: RunData,
    choice: JudgeChoice,
    *,
    settings: BootstrapSettings,
    breakdown_keys: Sequence[BreakdownKey] = BREAKDOWN_KEYS,
) -> RunReport:
    """The report row of one loaded run under one judge configuration."""
    verdicts = run.verdicts_of(choice.config)
    observations = build_observations(run.samples, run.generations, verdicts)
    return RunReport(
        run_dir=run.run_dir,
        model=model_name(run),
        judge=judge_description(run, choice),
        n_samples=len(run.samples),
        rounds=tuple(sorted({g.round for g in run.generations})),
        scores=scores_by_subset_setting(run.samples, observations, settings),
        overall=summarize_dimensions(observations, settings),
        unscored=count_unscored(run.samples, run.generations, verdicts),
        unscored_by_language=unscored_by_language(run.samples, run.generations, verdicts),
        breakdowns={key: breakdown(key, observations, settings) for key in breakdown_keys},
        language_pairs=language_pairs(run.samples, observations, settings),
        usage=token_usage(run.generations, verdicts),
        manifest=run.manifest,
    )


def build_report(
    run_dirs: Sequence[Path],
    *,
    judge_config: str | None = None,
    bootstrap_reps: int = 2000,
    seed: int = 0,
    breakdown_keys: Sequence[BreakdownKey] = BREAKDOWN_KEYS,
    confidence: float = 0.95,
) -> Report:
    """The report of one or more runs: a row per run and judge configuration, runs in the order given.

    `judge_config` (an id or an unambiguous prefix) picks the verdicts to score in every run; by
    default a run judged several ways has a row per configuration. Raises `RunInputError` for a path
    that is not a run, a run without responses or verdicts, or a judge configuration a run does not
    have (or that is ambiguous).
    """
    if not run_dirs:
        raise RunInputError("no run directories given")
    settings = BootstrapSettings(reps=bootstrap_reps, seed=seed, confidence=confidence)
    runs = [load_run(Path(d)) for d in run_dirs]
    rows = [
        run_report(run, choice, settings=settings, breakdown_keys=breakdown_keys)
        for run in runs
        for choice in judge_choices(run, judge_config)
    ]
    return Report(runs=tuple(rows), bootstrap=settings, breakdown_keys=tuple(breakdown_keys))
