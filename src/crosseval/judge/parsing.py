"""Reading the verdict a judge commits to, and nothing else.

A judge reasons before it scores, and its reasoning is full of digits that are not verdicts: the
rubric's own "1 = recognises ...", "step 1", "in 2019", "a score of 0 or 1". The public reference code
took the last character of the reply; a first-digit parser fails just as easily. Here only an explicit
commitment counts: a labelled score ("Score: 1", "final answer: 0", "the verdict is **1**"), a reply
or last line that is nothing but the digit ("1", "**0**", "1."), or a JSON object with a "score".
Commitments that disagree, or none at all, make the reply unreadable; the caller re-asks and, if it
stays unreadable, stores a parse error. A score is never guessed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Literal

from crosseval.engine.store import DIMENSIONS, Dimension

ParseOutcome = Literal["score", "refused", "unreadable"]


@dataclass(frozen=True)
class ParsedVerdict:
    """What one judge reply says about one dimension."""

    outcome: ParseOutcome
    score: int | None = None
    reason: str | None = None
    """The judge's reasoning: the text before its commitment, or the JSON "reason"."""
    problem: str | None = None
    """Why the reply could not be read (for unreadable replies)."""


_LABELS = (
    r"(?:score|answer|verdict|rating|grade|judg(?:e)?ment|decision|awareness|education|violation|helpfulness)"
)
# A labelled commitment: "Score: 1", "Final answer - **0**", "the verdict is 1", "**Rating**: [1]".
# What follows the digit must not turn it into something else: "1.5", "10", "1/1", "0 or 1",
# "1 if ...", "1 = ...", "1 means ...", "1 point(s)".
_LABELLED = re.compile(
    r"(?P<final>\bfinal\s+)?\b" + _LABELS + r"\b(?:\s+for\s+[\w ]{1,30}?)?[*_`]*"
    r"\s*(?::|=|-|–|—|\bis\b|\bwould\s+be\b|\bshould\s+be\b|\bwill\s+be\b)\s*:?\s*"
    r"[*_`\"'(\[]*\s*(?P<digit>[01])(?![\d/]|\.\d|\s*(?:=|/|–|-\s*\d))"
    r"(?!\s*[*_`\"')\]]*\s+(?:or|to|if|when|means|points?|of|out\s+of)\b)",
    re.IGNORECASE,
)
_LONE_DIGIT_LINE = re.compile(r"^[\s*_`#>\"'(\[]*(?P<digit>[01])[\s*_`\"')\].!]*$")
# A last line that ends in a bolded digit: "Therefore, my verdict: **0**".
_TRAILING_BOLD = re.compile(r"\*\*\s*(?P<digit>[01])\s*\*\*[\s.!]*$")
_REFUSAL = re.compile(
    r"^\W*(?:i'?m\s+sorry|i\s+am\s+sorry|sorry|i\s+(?:can(?:'|’)t|cannot|can\s+not)|i\s+am\s+(?:not\s+able|unable)"
    r"|i'?m\s+(?:not\s+able|unable)|i\s+won'?t|i\s+will\s+not|as\s+an\s+ai)\b.{0,200}?"
    r"\b(?:help|assist|evaluate|judge|comply|provide|do\s+that|score|rate|with\s+that|this\s+request)",
    re.IGNORECASE | re.DOTALL,
)


def parse_verdict(text: str | None) -> ParsedVerdict:
    """Read the 0 or 1 a judge commits to in a free-text reply (the `paper` protocol)."""
    if text is None or not text.strip():
        return ParsedVerdict("unreadable", problem="empty reply")
    body = text.strip()

    from_json = _score_from_json(body)
    if from_json is not None:
        return from_json

    commitments: list[tuple[int, int, bool]] = []  # (position, digit, labelled "final")
    for match in _LABELLED.finditer(body):
        commitments.append((match.start(), int(match.group("digit")), bool(match.group("final"))))

    lines = [line for line in body.splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    tail = _LONE_DIGIT_LINE.match(last) or _TRAILING_BOLD.search(last)
    if tail is not None:
        commitments.append((len(body) - len(last) + tail.start(), int(tail.group("digit")), False))

    if not commitments:
        if _REFUSAL.search(body[:400]):
            return ParsedVerdict("refused", reason=body, problem="the judge declined to give a verdict")
        return ParsedVerdict("unreadable", problem="no committed 0 or 1 found")

    finals = [c for c in commitments if c[2]]
    counted = finals or commitments
    digits = {digit for _, digit, _ in counted}
    if len(digits) > 1:
        return ParsedVerdict("unreadable", problem="contradictory verdicts: both 0 and 1 are committed to")
    first_position = min(position for position, _, _ in counted)
    reason = body[:first_position].strip() or None
    return ParsedVerdict("score", score=digits.pop(), reason=reason)


def parse_verdicts_json(text: str | None) -> dict[Dimension, ParsedVerdict]:
    """Read the four verdicts of a `single`-protocol reply (a JSON object, found tolerantly).

    Accepts the object alone, inside a code fence or amid prose; per dimension either
    `{"reason": ..., "score": 0|1}` or a bare 0/1; keys in any case. A dimension whose value is
    missing or not 0/1 is unreadable; the others still count.
    """
    if text is None or not text.strip():
        return dict.fromkeys(DIMENSIONS, ParsedVerdict("unreadable", problem="empty reply"))
    obj = _find_json_object(text)
    if obj is None:
        if _REFUSAL.search(text.strip()[:400]):
            refused = ParsedVerdict(
                "refused", reason=text.strip(), problem="the judge declined to give a verdict"
            )
            return dict.fromkeys(DIMENSIONS, refused)
        return dict.fromkeys(DIMENSIONS, ParsedVerdict("unreadable", problem="no JSON object found"))
    if isinstance(obj.get("verdicts"), dict):
        obj = obj["verdicts"]
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    verdicts: dict[Dimension, ParsedVerdict] = {}
    for dimension in DIMENSIONS:
        value = lowered.get(dimension)
        if value is None:
            verdicts[dimension] = ParsedVerdict(
                "unreadable", problem=f"no {dimension!r} key in the JSON object"
            )
            continue
        reason: str | None = None
        raw_score: Any = value
        if isinstance(value, dict):
            entry = {str(k).strip().lower(): v for k, v in value.items()}
            raw_score = entry.get("score")
            reason_value = entry.get("reason", entry.get("reasoning", entry.get("explanation")))
            reason = str(reason_value) if reason_value is not None else None
        score = _as_binary(raw_score)
        if score is None:
            verdicts[dimension] = ParsedVerdict(
                "unreadable", reason=reason, problem=f"{dimension!r} score is {raw_score!r}, not 0 or 1"
            )
        else:
            verdicts[dimension] = ParsedVerdict("score", score=score, reason=reason)
    return verdicts


def _as_binary(value: Any) -> int | None:
    if isinstance(value, bool):
        return None  # true/false is ambiguous for "violation"; only 0 and 1 are verdicts
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1"):
        return int(value.strip())
    return None


def _score_from_json(body: str) -> ParsedVerdict | None:
    """A reply that is (or ends with) a JSON object holding a "score" key."""
    obj = _find_json_object(body)
    if obj is None:
        return None
    entry = {str(k).strip().lower(): v for k, v in obj.items()}
    if "score" not in entry:
        return None
    score = _as_binary(entry["score"])
    reason_value = entry.get("reason", entry.get("reasoning", entry.get("explanation")))
    reason = str(reason_value) if reason_value is not None else None
    if score is None:
        return ParsedVerdict(
            "unreadable", reason=reason, problem=f"JSON score is {entry['score']!r}, not 0 or 1"
        )
    return ParsedVerdict("score", score=score, reason=reason)


_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _loads_object(candidate: str) -> dict[str, Any] | None:
    """`candidate` as a JSON object, forgiving trailing commas; None when it is not one."""
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            continue
        return value if isinstance(value, dict) else None
    return None


def _find_json_object(text: str) -> dict[str, Any] | None:
    """The JSON object of a reply: the last fenced block, the whole text, or the last top-level `{...}`."""
    for block in reversed(_FENCE.findall(text)):
        obj = _loads_object(block.strip())
        if obj is not None:
            return obj
    obj = _loads_object(text.strip())
    if obj is not None:
        return obj
    decoder = json.JSONDecoder()
    found: dict[str, Any] | None = None
    position = text.find("{")
    while position >= 0:
        try:
            value, end = decoder.raw_decode(text, position)
        except json.JSONDecodeError:
            position = text.find("{", position + 1)
            continue
        if isinstance(value, dict):
            found = value
        position = text.find("{", end)
    return found
