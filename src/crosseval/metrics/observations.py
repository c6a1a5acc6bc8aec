"""Scored observations: the `ok` verdicts of one judge configuration, joined with their samples.

An observation is one binary score of one response (sample, round) on one reported dimension.
The judge's `violation` verdict is reported as `compliance = 1 - violation`, as in the paper
(`crosseval.vocabulary.reported_score`).
Only `ok` verdicts on successful generations become observations; everything else is counted by
`crosseval.metrics.unscored`, never scored.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from crosseval.data.records import Sample
from crosseval.engine.store import GenerationRecord, VerdictRecord
from crosseval.vocabulary import REPORTED_DIMENSIONS, ReportedDimension, reported_dimension, reported_score


@dataclass(frozen=True)
class Observation:
    """One `ok` verdict, reported: which sample and round, which dimension, and the 0/1 score."""

    sample: Sample
    round: int
    dimension: ReportedDimension
    score: int

    @property
    def cluster(self) -> str:
        """The bootstrap cluster: the base item shared by paraphrases, translations and rounds."""
        return self.sample.base_id


def latest_verdicts(verdicts: Iterable[VerdictRecord]) -> list[VerdictRecord]:
    """One verdict per (judge config, generation, dimension): the most recently written one."""
    chosen: dict[tuple[str, str, str], VerdictRecord] = {}
    for verdict in verdicts:
        slot = (verdict.judge_config, verdict.generation_key, verdict.dimension)
        current = chosen.get(slot)
        if current is None or verdict.created_at >= current.created_at:
            chosen[slot] = verdict
    return list(chosen.values())


def build_observations(
    samples: Sequence[Sample],
    generations: Sequence[GenerationRecord],
    verdicts: Sequence[VerdictRecord],
) -> list[Observation]:
    """The observations of one judge configuration's verdicts (pass them already filtered).

    A verdict counts only when its status is `ok`, its generation is stored and succeeded, and its
    sample is part of the run; `crosseval.metrics.unscored.count_unscored` counts the rest.
    """
    by_id = {s.id: s for s in samples}
    ok_generations = {g.key for g in generations if g.status == "ok"}
    observations: list[Observation] = []
    for verdict in latest_verdicts(verdicts):
        if verdict.status != "ok" or verdict.score is None:
            continue
        sample = by_id.get(verdict.sample_id)
        if sample is None or verdict.generation_key not in ok_generations:
            continue
        observations.append(
            Observation(
                sample=sample,
                round=verdict.round,
                dimension=reported_dimension(verdict.dimension),
                score=reported_score(verdict.dimension, verdict.score),
            )
        )
    observations.sort(key=lambda o: (o.sample.id, o.round, REPORTED_DIMENSIONS.index(o.dimension)))
    return observations
