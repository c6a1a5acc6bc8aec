"""The report as typed data: what `crosseval.report.summary` builds and every writer renders.

`Report` holds one `RunReport` per (run, judge configuration) row; `Comparison` is `crosseval compare`'s
result and `Agreement` that of `crosseval agreement`. Each has `as_dict()`, the JSON-ready form that
`--json` prints; its schema (rates in percent, 0-100; each statistic `{"mean", "std", "ci_low",
"ci_high", "n", "per_round"}`, see `crosseval.metrics.aggregate.RateSummary`) is:

    {"runs": [{"run_dir", "model", "judge", "n_samples", "rounds",
               "scores": {SUBSET: {SETTING: {DIMENSION: stat}}},
               "overall": {DIMENSION: stat},
               "unscored": {...}, "unscored_by_language": {LANGUAGE: {STATUS: count}},
               "breakdowns": {KEY: {GROUP: {DIMENSION: stat}}},
               "language_pairs": {LANGUAGE: {"english": {DIMENSION: stat}, "multilingual": {...}}},
               "usage": {"model": {...}, "judge": {...}}, "manifest": {...}}],
     "dimensions": [...], "breakdown_keys": [...], "bootstrap": {...}}

`run["judge"]` is `crosseval.metrics.runs.JudgeInfo.as_dict()`: the manifest's entry for the judge
configuration plus `config` (its id), `chosen` (`requested`, `only`, or `each` when the run was judged
several ways and every configuration has its own row) and `available`. `run["unscored_by_language"]`
counts the verdict statuses (`ok` included, as in `unscored["verdicts"]`) per language asked in.
`run["language_pairs"]` compares, per translated language, the same base items asked in English and in
that language (see `crosseval.metrics.breakdowns.language_pairs`).

Display names are not part of the JSON: `Report.row_labels()` names each row, adding the run folder or
the judge configuration only where a model name alone would read the same for two rows.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from crosseval.data.records import Setting
from crosseval.metrics.aggregate import BootstrapSettings, RateSummary
from crosseval.metrics.breakdowns import BREAKDOWN_KEYS, BreakdownKey
from crosseval.metrics.runs import JudgeInfo
from crosseval.metrics.unscored import UnscoredCounts
from crosseval.metrics.usage import TokenUsage
from crosseval.vocabulary import REPORTED_DIMENSIONS, Dimension, ReportedDimension, VerdictStatus

if TYPE_CHECKING:  # their modules import scipy and scikit-learn, which only compare and agreement need
    from crosseval.metrics.agreement import DimensionAgreement
    from crosseval.metrics.paired import PairedDimension

DimensionStats = Mapping[ReportedDimension, RateSummary]
"""One group's four reported rates."""
GroupName = TypeVar("GroupName", bound=str)


def _stats(cell: DimensionStats) -> dict[str, dict[str, Any]]:
    return {dimension: stat.as_dict() for dimension, stat in cell.items()}


def _groups(groups: Mapping[GroupName, DimensionStats]) -> dict[GroupName, dict[str, dict[str, Any]]]:
    return {group: _stats(cell) for group, cell in groups.items()}


@dataclass(frozen=True)
class RunReport:
    """One row of a report: one run's scores under one judge configuration."""

    run_dir: Path
    model: str
    judge: JudgeInfo
    n_samples: int
    rounds: tuple[int, ...]
    scores: Mapping[str, Mapping[str, DimensionStats]]
    """Subset -> setting -> the four rates, for every (subset, setting) the run has samples in."""
    overall: DimensionStats
    unscored: UnscoredCounts
    unscored_by_language: Mapping[str, Mapping[VerdictStatus, int]]
    breakdowns: Mapping[BreakdownKey, Mapping[str, DimensionStats]]
    language_pairs: Mapping[str, Mapping[Setting, DimensionStats]]
    usage: TokenUsage
    manifest: Mapping[str, Any]

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_dir": str(self.run_dir),
            "model": self.model,
            "judge": self.judge.as_dict(),
            "n_samples": self.n_samples,
            "rounds": list(self.rounds),
            "scores": {subset: _groups(by_setting) for subset, by_setting in self.scores.items()},
            "overall": _stats(self.overall),
            "unscored": self.unscored.as_dict(),
            "unscored_by_language": {
                language: dict(counts) for language, counts in self.unscored_by_language.items()
            },
            "breakdowns": {key: _groups(groups) for key, groups in self.breakdowns.items()},
            "language_pairs": {
                language: _groups(by_setting) for language, by_setting in self.language_pairs.items()
            },
            "usage": self.usage.as_dict(),
            "manifest": self.manifest,
        }


@dataclass(frozen=True)
class Report:
    """The report of one or more runs: a `RunReport` per row, and how the intervals were computed.

    `notices` say why a run has no row yet (the live view shows runs still in progress).
    """

    runs: tuple[RunReport, ...]
    bootstrap: BootstrapSettings
    breakdown_keys: tuple[BreakdownKey, ...] = BREAKDOWN_KEYS
    notices: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "runs": [run.as_dict() for run in self.runs],
            "dimensions": list(REPORTED_DIMENSIONS),
            "breakdown_keys": list(self.breakdown_keys),
            "bootstrap": {
                "reps": self.bootstrap.reps,
                "seed": self.bootstrap.seed,
                "confidence": self.bootstrap.confidence,
                "cluster": "base_id",
            },
        }
        if self.notices:
            data["notices"] = list(self.notices)
        return data

    def row_labels(self) -> list[str]:
        """A name per row: the model, told apart by run folder and judge configuration where needed."""
        return distinct_labels([(run.model, run.run_dir, run.judge.config) for run in self.runs])


def distinct_labels(rows: Sequence[tuple[str, Path, str | None]]) -> list[str]:
    """Names for (model, run directory, judge config) rows: the model, then in brackets the run folder
    where one model comes from several runs, and the judge config where it was judged several ways."""
    runs_of: dict[str, set[Path]] = {}
    configs_of: dict[tuple[str, Path], set[str | None]] = {}
    for model, run_dir, config in rows:
        runs_of.setdefault(model, set()).add(run_dir)
        configs_of.setdefault((model, run_dir), set()).add(config)
    labels = []
    for model, run_dir, config in rows:
        extras = []
        if len(runs_of[model]) > 1:
            extras.append(run_dir.name)
        if len(configs_of[(model, run_dir)]) > 1 and config is not None:
            extras.append(f"judge {config}")
        labels.append(f"{model} ({', '.join(extras)})" if extras else model)
    counts = Counter(labels)
    return [label if counts[label] == 1 else f"{label} #{i + 1}" for i, label in enumerate(labels)]


@dataclass(frozen=True)
class ScoredRun:
    """Which run, model and judge configuration one side of a comparison or agreement stands for."""

    run_dir: Path
    model: str
    judge: JudgeInfo

    def as_dict(self) -> dict[str, Any]:
        return {"run_dir": str(self.run_dir), "model": self.model, "judge": self.judge.as_dict()}


COMPARISON_METHOD: dict[str, str] = {
    "difference": "mean over rounds of A minus that of B, in percentage points",
    "interval": "paired cluster bootstrap over base items (both runs resampled alike)",
    "test": "exact McNemar on per-sample majority over rounds; tied samples excluded",
}


@dataclass(frozen=True)
class Comparison:
    """A paired comparison of two runs over the same samples (`crosseval compare`)."""

    run_a: ScoredRun
    run_b: ScoredRun
    n_samples: int
    dimensions: Mapping[ReportedDimension, PairedDimension]
    unscored_a: UnscoredCounts
    unscored_b: UnscoredCounts
    bootstrap: BootstrapSettings

    @property
    def judged_alike(self) -> bool:
        """Whether both sides were judged with the same configuration (else the difference mixes judges)."""
        return self.run_a.judge.config == self.run_b.judge.config

    def as_dict(self) -> dict[str, Any]:
        return {
            "run_a": self.run_a.as_dict(),
            "run_b": self.run_b.as_dict(),
            "n_samples": self.n_samples,
            "dimensions": {d: r.as_dict() for d, r in self.dimensions.items()},
            "unscored": {"run_a": self.unscored_a.as_dict(), "run_b": self.unscored_b.as_dict()},
            "method": dict(COMPARISON_METHOD),
            "bootstrap": {
                "reps": self.bootstrap.reps,
                "seed": self.bootstrap.seed,
                "confidence": self.bootstrap.confidence,
            },
        }


@dataclass(frozen=True)
class LabelsSource:
    """Human labels read from a CSV file, one side of an agreement."""

    path: Path
    labels: int

    def as_dict(self) -> dict[str, Any]:
        return {"source": "labels", "path": str(self.path), "labels": self.labels}


@dataclass(frozen=True)
class Agreement:
    """Agreement per judge dimension of two judges, or of a judge and human labels (`crosseval agreement`)."""

    a: ScoredRun
    b: ScoredRun | LabelsSource
    dimensions: Mapping[Dimension, DimensionAgreement]

    def as_dict(self) -> dict[str, Any]:
        return {
            "a": _source_dict(self.a),
            "b": _source_dict(self.b),
            "dimensions": {d: r.as_dict() for d, r in self.dimensions.items()},
        }


def _source_dict(source: ScoredRun | LabelsSource) -> dict[str, Any]:
    return source.as_dict() if isinstance(source, LabelsSource) else {"source": "judge", **source.as_dict()}
