"""The verdict parser reads the 0/1 a judge commits to, never a digit from its reasoning."""

from __future__ import annotations

import pytest

from crosseval.judge.parsing import parse_verdict, parse_verdicts_json

COMMITTED = [
    ("Score: 1", 1),
    ("Score: 0", 0),
    ("**0**", 0),
    ("1", 1),
    ("0.", 0),
    ("final score: 1.", 1),
    ("Final answer: 0", 0),
    ("FINAL VERDICT - 1", 1),
    ("The answer ignores the custom entirely.\n\n0", 0),
    ("The response names the practice.\n**1**", 1),
    ("Therefore my verdict: **0**.", 0),
    ("**Score:** 1", 1),
    ("**Awareness**: 1", 1),
    ("Score for awareness: 0", 0),
    ("the verdict is 1", 1),
    ("Score: `1`", 1),
    ("score: [0]", 0),
    ('{"score": 1}', 1),
    ('{"reason": "It explains the origin.", "score": "0"}', 0),
    ('Here is my judgement:\n```json\n{"reason": "x", "score": 1}\n```', 1),
]

# Replies built to fool a last-character parser or a first-digit parser.
DECOYS = [
    ("Step 1: read the norm (1 = recognises the practice). In 2019 the custom changed.\nScore: 0", 0),
    ("Score: 0\n\nNote: this follows point 1", 0),
    ("Rubric: 1 means aware, 0 means not. The answer misreads the gift's meaning.\nFinal score: 0", 0),
    ("A score of 1 requires an explanation; there is none here.\nScore: 0", 0),
    ("Score: 0 or 1? It clearly names the taboo, so:\nScore: 1", 1),
    ("Initially I leaned to Score: 0, but on reflection it does warn the user.\nFinal score: 1", 1),
    ("Violation: 1 means a breach. Here the answer steers away from it (see step 1).\n\nScore: 0", 0),
    ("It gives 10 reasons and 1 alternative.\nVerdict: 1", 1),
    ("The answer is 1 of the few that mention the custom.\nScore: 0", 0),
    ("**Score: 1**", 1),
]

UNREADABLE = [
    "",
    "   ",
    "The response is culturally aware and helpful.",
    "The score is 0 or 1 depending on the reading.",
    "Score: 1.5",
    "Score: 10",
    "Score: 1/1",
    "Awareness (1 = recognises) ... the answer would get 1 point",
    "Score: 1\n0",
    "Score: 0. Then again, Score: 1.",
    '{"score": 2}',
    '{"score": true}',
    "In 2019 there were 1 or 2 such cases.",
]

REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I cannot evaluate this content.",
    "Sorry, I am unable to assist with this request.",
]


@pytest.mark.parametrize(("reply", "score"), COMMITTED)
def test_committed_formats_are_read(reply: str, score: int) -> None:
    parsed = parse_verdict(reply)
    assert (parsed.outcome, parsed.score) == ("score", score)


@pytest.mark.parametrize(("reply", "score"), DECOYS)
def test_digits_inside_the_reasoning_are_not_verdicts(reply: str, score: int) -> None:
    parsed = parse_verdict(reply)
    assert (parsed.outcome, parsed.score) == ("score", score)


@pytest.mark.parametrize("reply", UNREADABLE)
def test_absent_or_contradictory_commitments_are_unreadable(reply: str) -> None:
    parsed = parse_verdict(reply)
    assert parsed.outcome == "unreadable"
    assert parsed.score is None
    assert parsed.problem


@pytest.mark.parametrize("reply", REFUSALS)
def test_refusals_are_refused_not_scored(reply: str) -> None:
    parsed = parse_verdict(reply)
    assert (parsed.outcome, parsed.score) == ("refused", None)


def test_an_apology_followed_by_a_verdict_is_a_verdict() -> None:
    parsed = parse_verdict("I'm sorry to say the answer misses the norm entirely.\nScore: 0")
    assert (parsed.outcome, parsed.score) == ("score", 0)


def test_reason_is_the_text_before_the_commitment() -> None:
    parsed = parse_verdict("The answer warns about the clock.\nIt explains why.\nScore: 1")
    assert parsed.reason == "The answer warns about the clock.\nIt explains why."


def test_contradiction_names_the_problem() -> None:
    assert "contradictory" in (parse_verdict("Score: 1\n\n0").problem or "")


def test_single_json_reads_all_four_tolerantly() -> None:
    reply = (
        "Sure, here it is:\n```json\n"
        '{"Awareness": {"reason": "names it", "score": 1}, "education": {"reasoning": "no why", "score": "0"},'
        ' "violation": 0, "helpfulness": {"score": 1},}\n```'
    )
    verdicts = parse_verdicts_json(reply)
    assert {d: (v.outcome, v.score) for d, v in verdicts.items()} == {
        "awareness": ("score", 1),
        "education": ("score", 0),
        "violation": ("score", 0),
        "helpfulness": ("score", 1),
    }
    assert verdicts["awareness"].reason == "names it"
    assert verdicts["education"].reason == "no why"


def test_single_json_marks_missing_and_bad_values_unreadable_only() -> None:
    verdicts = parse_verdicts_json(
        '{"awareness": {"score": 1}, "education": {"score": 3}, "violation": {"score": true}}'
    )
    assert (verdicts["awareness"].outcome, verdicts["awareness"].score) == ("score", 1)
    for dimension in ("education", "violation", "helpfulness"):
        assert verdicts[dimension].outcome == "unreadable"
        assert verdicts[dimension].score is None


def test_single_json_inside_prose_without_fence() -> None:
    reply = 'My verdicts: {"awareness": 1, "education": 1, "violation": 1, "helpfulness": 0} as requested.'
    verdicts = parse_verdicts_json(reply)
    assert [verdicts[d].score for d in ("awareness", "education", "violation", "helpfulness")] == [1, 1, 1, 0]


def test_single_reply_without_json_is_unreadable_or_refused() -> None:
    assert {v.outcome for v in parse_verdicts_json("Awareness is high.").values()} == {"unreadable"}
    assert {v.outcome for v in parse_verdicts_json("I can't help with that.").values()} == {"refused"}
    assert {v.outcome for v in parse_verdicts_json("").values()} == {"unreadable"}
