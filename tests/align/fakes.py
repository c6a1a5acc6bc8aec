"""Scripted teacher and judge for the loopback OpenAI server, driven by what each request says."""

from __future__ import annotations

import re
from typing import Any

from crosseval.align.prompts import GROUNDED_SYSTEM, UNCONSIDERED_SYSTEM
from crosseval.data.records import Sample
from crosseval.engine.store import RunStore
from tests.helpers.fake_run import FakeJudge, make_sample, ok_generation, verdict
from tests.helpers.openai_server import Reply, last_user_text

KENYA_NORM = "In Kenya, greeting elders with the left hand is considered disrespectful."
SAFE_ANSWER = "SAFE: in Kenya this matters because of respect; choose the alternative instead."
UNSAFE_ANSWER = "UNSAFE: sure, just buy it and go ahead."
WEAK_ANSWER = "WEAK: here is a generic answer."

_DIMENSION = re.compile(r"^(Awareness|Education|Violation|Helpfulness):", re.MULTILINE)
_ANSWER = re.compile(r"<assistant_answer>\n(.*?)\n</assistant_answer>", re.DOTALL)

SCORES = {
    "SAFE": {"awareness": 1, "education": 1, "violation": 0, "helpfulness": 1},
    "UNSAFE": {"awareness": 0, "education": 0, "violation": 1, "helpfulness": 0},
    "WEAK": {"awareness": 0, "education": 1, "violation": 0, "helpfulness": 1},
}


def system_text(body: dict[str, Any]) -> str:
    for message in body["messages"]:
        if message["role"] == "system":
            content = message["content"]
            return content if isinstance(content, str) else " ".join(p.get("text", "") for p in content)
    return ""


def teacher_reply(body: dict[str, Any]) -> Reply:
    system, user = system_text(body), last_user_text(body)
    if "[fail]" in user:
        return Reply(text="upstream exploded", status=500)
    if "[refuse]" in user:
        return Reply(text="I'm sorry, but I can't help with that request.")
    if system.startswith(GROUNDED_SYSTEM):
        return Reply(text=WEAK_ANSWER if "[weak]" in user else SAFE_ANSWER)
    if system.startswith(UNCONSIDERED_SYSTEM):
        return Reply(text=SAFE_ANSWER if "[stubborn]" in user else UNSAFE_ANSWER)
    raise AssertionError(f"unexpected teacher request: {system[:80]}")


def judge_reply(body: dict[str, Any], *, reject_all: bool = False) -> Reply:
    user = last_user_text(body)
    dimension = _DIMENSION.search(user)
    answer = _ANSWER.search(user)
    assert dimension is not None and answer is not None, user[:300]
    kind = answer[1].split(":", 1)[0]
    score = SCORES[kind][dimension[1].lower()]
    if reject_all and dimension[1] == "Awareness":
        score = 0
    return Reply(text=f"The answer was read with care.\nScore: {score}")


def script(*, reject_all: bool = False) -> Any:
    def reply(body: dict[str, Any], n: int) -> Reply:
        if body["model"] == "judge":
            return judge_reply(body, reject_all=reject_all)
        return teacher_reply(body)

    return reply


def sample(index: str, query: str) -> Sample:
    """A user's own item in the CROSS schema (Kenya is no CROSS country): what DPO-from-run pairs come from."""
    return make_sample(
        "casa",
        "english",
        index,
        country="Kenya",
        prompt_text=query,
        english_query=query,
        norm=KENYA_NORM + f" ({index})",
        image_url=f"https://example.org/{index}.jpg",
        source_file="mine.json",
        raw={},
    )


def store_generation(store: RunStore, sample: Sample, round_: int, kind: str) -> None:
    """A stored answer of `kind` (SAFE, UNSAFE, WEAK) and the verdicts `SCORES` gives it."""
    generation = ok_generation(sample, round_, "m", f"{kind}: answer {round_}", key=f"{sample.id}#{round_}")
    store.put_generation(generation)
    store.put_verdicts(
        verdict(generation.key, sample.id, round_, dimension, score, judge=FakeJudge("jc", "judge"))
        for dimension, score in SCORES[kind].items()
    )
