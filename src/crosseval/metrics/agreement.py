"""Agreement between two sets of binary labels of the same responses: two judges, or judge and humans.

Per judge dimension: how many responses both scored, percent agreement, Cohen's kappa (chance-
corrected; undefined, hence None, when both sides use a single and identical label) and the
confusion counts. Responses only one side scored are counted, not compared.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sklearn.metrics import cohen_kappa_score

from crosseval.engine.store import VerdictRecord
from crosseval.metrics.labels import LabelKey
from crosseval.metrics.observations import latest_verdicts
from crosseval.metrics.runs import RunData, RunInputError
from crosseval.vocabulary import DIMENSIONS, Dimension


def cohen_kappa(labels_a: Sequence[int], labels_b: Sequence[int]) -> float | None:
    """Cohen's kappa of two equally long 0/1 label lists; None when it is undefined."""
    if len(labels_a) != len(labels_b):
        raise ValueError(f"label lists differ in length: {len(labels_a)} and {len(labels_b)}")
    if not labels_a:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        kappa = float(cohen_kappa_score(labels_a, labels_b, labels=[0, 1]))
    return None if np.isnan(kappa) else kappa


@dataclass(frozen=True)
class DimensionAgreement:
    """Agreement on one dimension. `confusion[a][b]` counts responses A labelled a and B labelled b."""

    dimension: Dimension
    n: int
    agreement: float | None
    """Percent of the compared responses on which both agree."""
    kappa: float | None
    confusion: tuple[tuple[int, int], tuple[int, int]]
    only_a: int
    only_b: int

    def as_dict(self) -> dict[str, Any]:
        (a0b0, a0b1), (a1b0, a1b1) = self.confusion
        return {
            "n": self.n,
            "agreement": self.agreement,
            "kappa": self.kappa,
            "confusion": {"a0_b0": a0b0, "a0_b1": a0b1, "a1_b0": a1b0, "a1_b1": a1b1},
            "only_a": self.only_a,
            "only_b": self.only_b,
        }


def agreement(
    labels_a: Mapping[LabelKey, int], labels_b: Mapping[LabelKey, int]
) -> dict[Dimension, DimensionAgreement]:
    """Per judge dimension, the agreement of two label sets keyed by (sample id, round, dimension)."""
    result: dict[Dimension, DimensionAgreement] = {}
    for dimension in DIMENSIONS:
        keys_a = {k for k in labels_a if k[2] == dimension}
        keys_b = {k for k in labels_b if k[2] == dimension}
        common = sorted(keys_a & keys_b)
        a = [labels_a[k] for k in common]
        b = [labels_b[k] for k in common]
        counts = [[0, 0], [0, 0]]
        for x, y in zip(a, b, strict=True):
            counts[x][y] += 1
        agreed = counts[0][0] + counts[1][1]
        result[dimension] = DimensionAgreement(
            dimension=dimension,
            n=len(common),
            agreement=100.0 * agreed / len(common) if common else None,
            kappa=cohen_kappa(a, b),
            confusion=((counts[0][0], counts[0][1]), (counts[1][0], counts[1][1])),
            only_a=len(keys_a - keys_b),
            only_b=len(keys_b - keys_a),
        )
    return result


def judge_labels(run: RunData, judge_config: str) -> dict[LabelKey, int]:
    """The `ok` verdicts of one judge configuration on successful generations, as labels."""
    ok_generations = {g.key for g in run.generations if g.status == "ok"}
    labels: dict[LabelKey, int] = {}
    verdicts: list[VerdictRecord] = latest_verdicts(run.verdicts_of(judge_config))
    for v in verdicts:
        if v.status == "ok" and v.score is not None and v.generation_key in ok_generations:
            labels[(v.sample_id, v.round, v.dimension)] = v.score
    return labels


def check_same_responses(run_a: RunData, run_b: RunData) -> None:
    """Raises `RunInputError` unless the two runs' shared (sample, round) slots hold the same responses.

    Two judges can only be compared on the same responses; the generation key hashes everything that
    makes a response, so equal keys mean the same response.
    """
    keys_a = {(g.sample_id, g.round): g.key for g in run_a.generations if g.status == "ok"}
    keys_b = {(g.sample_id, g.round): g.key for g in run_b.generations if g.status == "ok"}
    shared = keys_a.keys() & keys_b.keys()
    if not shared:
        raise RunInputError(f"{run_a.run_dir} and {run_b.run_dir} share no responses to compare judges on")
    different = sorted(slot for slot in shared if keys_a[slot] != keys_b[slot])
    if different:
        examples = ", ".join(f"{s} round {r}" for s, r in different[:3])
        raise RunInputError(
            f"{run_a.run_dir} and {run_b.run_dir} hold different responses for {len(different)} "
            f"(sample, round) pairs (e.g. {examples}); judge agreement needs the same responses. "
            "Judge one run with both judges (`--judge-config` twice), or use `crosseval compare` for models."
        )
