from crosseval.engine.store import GenerationRecord, VerdictRecord
from crosseval.metrics.usage import token_usage


def test_model_and_judge_tokens_are_kept_apart() -> None:
    generations = [
        GenerationRecord("g1", "s", 1, "m", "ok", prompt_tokens=100, completion_tokens=30, attempts=2),
        GenerationRecord("g2", "s", 2, "m", "error", error="server 500"),
    ]
    verdicts = [
        VerdictRecord(
            "v1",
            "g1",
            "s",
            1,
            "awareness",
            "j",
            "jm",
            "single",
            "ok",
            1,
            prompt_tokens=500,
            completion_tokens=80,
        ),
        VerdictRecord(
            "v2",
            "g1",
            "s",
            1,
            "education",
            "j",
            "jm",
            "single",
            "ok",
            0,
            prompt_tokens=0,
            completion_tokens=0,
        ),
    ]
    usage = token_usage(generations, verdicts).as_dict()
    assert usage["model"] == {"requests": 2, "attempts": 3, "prompt_tokens": 100, "completion_tokens": 30}
    assert usage["judge"] == {"verdicts": 2, "attempts": 2, "prompt_tokens": 500, "completion_tokens": 80}
