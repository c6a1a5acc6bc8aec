"""`crosseval compare` and `crosseval agreement` as data: typed `Comparison` and `Agreement` results.

Both pair results judged the same way: two runs are compared, or their judges' agreement measured,
under a judge configuration both runs have (`crosseval.metrics.runs.paired_judge_choices`), unless the
user names one configuration per run. Importing this module loads scipy and scikit-learn (the McNemar
test, Cohen's kappa); `crosseval report` does not need it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from crosseval.metrics.aggregate import BootstrapSettings
from crosseval.metrics.agreement import agreement, check_same_responses, judge_labels
from crosseval.metrics.labels import read_labels
from crosseval.metrics.observations import build_observations
from crosseval.metrics.paired import check_same_samples, paired_comparison
from crosseval.metrics.runs import (
    JudgeChoice,
    RunData,
    RunInputError,
    choose_judge_config,
    judge_description,
    load_run,
    model_name,
    paired_judge_choices,
    resolve_judge_config,
)
from crosseval.metrics.unscored import count_unscored
from crosseval.report.model import Agreement, Comparison, LabelsSource, ScoredRun


def _scored_run(run: RunData, choice: JudgeChoice) -> ScoredRun:
    return ScoredRun(run_dir=run.run_dir, model=model_name(run), judge=judge_description(run, choice))


def build_comparison(
    run_a: Path,
    run_b: Path,
    *,
    judge_configs: Sequence[str] = (),
    bootstrap_reps: int = 2000,
    seed: int = 0,
    confidence: float = 0.95,
) -> Comparison:
    """Paired comparison of two runs over the same samples (A - B per dimension, McNemar tests).

    `judge_configs`: none (the configuration both runs share), one (that one in both), or two (A's,
    then B's). Raises `RunInputError` when the runs cover different samples or datasets, or share no
    judge configuration to compare under.
    """
    settings = BootstrapSettings(reps=bootstrap_reps, seed=seed, confidence=confidence)
    a, b = load_run(Path(run_a)), load_run(Path(run_b))
    check_same_samples(str(a.run_dir), a.samples, str(b.run_dir), b.samples)
    choice_a, choice_b = paired_judge_choices(a, b, judge_configs)
    verdicts_a, verdicts_b = a.verdicts_of(choice_a.config), b.verdicts_of(choice_b.config)
    obs_a = build_observations(a.samples, a.generations, verdicts_a)
    obs_b = build_observations(b.samples, b.generations, verdicts_b)
    return Comparison(
        run_a=_scored_run(a, choice_a),
        run_b=_scored_run(b, choice_b),
        n_samples=len(a.samples),
        dimensions=paired_comparison(obs_a, obs_b, settings),
        unscored_a=count_unscored(a.samples, a.generations, verdicts_a),
        unscored_b=count_unscored(b.samples, b.generations, verdicts_b),
        bootstrap=settings,
    )


def build_agreement(
    run_a: Path,
    run_b: Path | None = None,
    *,
    labels: Path | None = None,
    judge_configs: Sequence[str] = (),
) -> Agreement:
    """Judge agreement, per judge dimension, between:

    - two judge configurations of one run (`run_b` and `labels` unset; name both, or the run has
      exactly two, compared oldest as A against newest as B);
    - two runs over the same responses (`run_b`), under the configuration both share unless
      `judge_configs` names it (once) or one per run (twice);
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
        result = agreement(judge_labels(a, choice.config), human)
        return Agreement(_scored_run(a, choice), LabelsSource(Path(labels), len(human)), result)
    if run_b is not None:
        b = load_run(Path(run_b))
        check_same_responses(a, b)
        choice_a, choice_b = paired_judge_choices(a, b, judge_configs)
    else:
        b = a
        choice_a, choice_b = _two_judge_choices(a, judge_configs)
    result = agreement(judge_labels(a, choice_a.config), judge_labels(b, choice_b.config))
    return Agreement(_scored_run(a, choice_a), _scored_run(b, choice_b), result)


def _two_judge_choices(run: RunData, judge_configs: Sequence[str]) -> tuple[JudgeChoice, JudgeChoice]:
    """The two judge configurations of one run to compare: the two named, or the run's only two."""
    available = tuple(run.judge_configs)
    if len(judge_configs) == 2:
        first, second = (resolve_judge_config(run, config) for config in judge_configs)
    elif not judge_configs and len(available) == 2:
        first, second = available
    else:
        raise RunInputError(
            f"{run.run_dir}: name the two judge configs to compare with --judge-config twice "
            f"(available: {', '.join(available) or 'none'}), or give a second run or --labels"
        )
    if first == second:
        raise RunInputError(f"{run.run_dir}: compare two different judge configs, got {first!r} twice")
    return choose_judge_config(run, first), choose_judge_config(run, second)
