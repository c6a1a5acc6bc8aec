import pytest

from crosseval.engine.store import GenerationRecord, VerdictRecord
from crosseval.metrics.observations import build_observations, latest_verdicts
from crosseval.vocabulary import reported_score
from tests.helpers.fake_run import make_sample, verdict

SAMPLE = make_sample("casa", "english", "Japan_1")


def _verdict(
    dimension: str, status: str, score: int | None, *, gen: str = "g1", at: str = "t1"
) -> VerdictRecord:
    outcome = score if status == "ok" else status
    return verdict(gen, SAMPLE.id, 1, dimension, outcome, key=f"{gen}|{dimension}|{at}", created_at=at)  # type: ignore[arg-type]


def test_violation_is_reported_as_compliance() -> None:
    assert reported_score("violation", 1) == 0
    assert reported_score("violation", 0) == 1
    assert reported_score("awareness", 1) == 1
    with pytest.raises(ValueError):
        reported_score("awareness", 2)


def test_only_ok_verdicts_on_ok_generations_become_observations() -> None:
    generations = [
        GenerationRecord("g1", SAMPLE.id, 1, "m", "ok", response="r"),
        GenerationRecord("g2", SAMPLE.id, 2, "m", "error", error="server 500"),
    ]
    verdicts = [
        _verdict("awareness", "ok", 1),
        _verdict("violation", "ok", 1),
        _verdict("education", "parse_error", None),
        _verdict("helpfulness", "refused", None),
        _verdict("awareness", "ok", 1, gen="g2"),  # on a failed generation: never scored
    ]
    observations = build_observations([SAMPLE], generations, verdicts)
    assert [(o.dimension, o.score, o.round) for o in observations] == [
        ("awareness", 1, 1),
        ("compliance", 0, 1),
    ]
    assert observations[0].cluster == "casa/Japan_1"


def test_a_rejudged_verdict_replaces_the_older_one() -> None:
    old = _verdict("awareness", "ok", 0, at="2026-01-01")
    new = _verdict("awareness", "ok", 1, at="2026-02-01")
    assert latest_verdicts([new, old]) == [new]
