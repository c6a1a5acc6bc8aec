"""Statistics over judged runs: rates per round, means over rounds, cluster-bootstrap intervals,
breakdowns, unscored counts, paired comparisons of two runs and judge agreement.

Pure functions over typed records; runs are read only through `crosseval.engine.store.RunStore` and
the run's `manifest.json` (see `crosseval.metrics.runs`).
"""

from crosseval.metrics.aggregate import BootstrapSettings, RateSummary, summarize_dimensions, summarize_rate
from crosseval.metrics.agreement import DimensionAgreement, agreement, cohen_kappa, judge_labels
from crosseval.metrics.breakdowns import (
    BREAKDOWN_KEYS,
    BreakdownKey,
    breakdown,
    language_pairs,
    scores_by_subset_setting,
)
from crosseval.metrics.observations import (
    REPORTED_DIMENSIONS,
    Observation,
    ReportedDimension,
    build_observations,
)
from crosseval.metrics.paired import PairedDimension, check_same_samples, mcnemar_exact, paired_comparison
from crosseval.metrics.rates import mean_and_std, rate_percent, rates_by_round
from crosseval.metrics.runs import RunData, RunInputError, choose_judge_config, load_run
from crosseval.metrics.unscored import UnscoredCounts, count_unscored

__all__ = [
    "BREAKDOWN_KEYS",
    "REPORTED_DIMENSIONS",
    "BootstrapSettings",
    "BreakdownKey",
    "DimensionAgreement",
    "Observation",
    "PairedDimension",
    "RateSummary",
    "ReportedDimension",
    "RunData",
    "RunInputError",
    "UnscoredCounts",
    "agreement",
    "breakdown",
    "build_observations",
    "check_same_samples",
    "choose_judge_config",
    "cohen_kappa",
    "count_unscored",
    "judge_labels",
    "language_pairs",
    "load_run",
    "mcnemar_exact",
    "mean_and_std",
    "paired_comparison",
    "rate_percent",
    "rates_by_round",
    "scores_by_subset_setting",
    "summarize_dimensions",
    "summarize_rate",
]
