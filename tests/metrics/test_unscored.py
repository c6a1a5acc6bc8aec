from crosseval.engine.store import GenerationRecord, VerdictRecord
from crosseval.metrics.unscored import count_unscored, error_kind, unscored_by_language
from tests.helpers.fake_run import make_sample, verdict

SAMPLE = make_sample("casa", "english", "Japan_1")


def _verdict(gen: str, dimension: str, status: str, score: int | None = None) -> VerdictRecord:
    return verdict(gen, SAMPLE.id, 1, dimension, score if status == "ok" else status)  # type: ignore[arg-type]


def test_counts_failed_generations_and_each_unscored_status() -> None:
    generations = [
        GenerationRecord("g1", SAMPLE.id, 1, "m", "ok", response="r"),
        GenerationRecord("g2", SAMPLE.id, 2, "m", "error", error="timeout: 30 s", error_kind="timeout"),
        GenerationRecord("g3", SAMPLE.id, 3, "m", "error", error="server 500: boom"),
    ]
    verdicts = [
        _verdict("g1", "awareness", "ok", 1),
        _verdict("g1", "education", "parse_error"),
        _verdict("g1", "violation", "refused"),
        # helpfulness of g1 is missing; a verdict on failed g2 is ignored
        _verdict("g2", "awareness", "ok", 0),
    ]
    counts = count_unscored([SAMPLE], generations, verdicts).as_dict()
    assert counts["generations"] == 3
    assert counts["failed_generations"] == 2
    assert counts["failed_generations_by_kind"] == {"server": 1, "timeout": 1}
    assert counts["verdicts"] == {"ok": 1, "parse_error": 1, "api_error": 0, "refused": 1}
    assert counts["unscored_verdicts"] == 2
    assert counts["by_dimension"]["education"]["parse_error"] == 1
    assert counts["by_dimension"]["compliance"]["refused"] == 1
    assert counts["missing_verdicts"] == 1
    assert counts["ignored_verdicts"] == 1


def test_error_kind_reads_the_leading_word() -> None:
    assert error_kind("rate_limit 429: slow down") == "rate_limit"
    assert error_kind("timeout: attempt took 30 s") == "timeout"
    assert error_kind(None) == "unknown"
    assert error_kind("  ") == "unknown"


def test_verdicts_are_counted_by_the_language_asked_in() -> None:
    english = SAMPLE
    persian = make_sample("casa", "multilingual", "Iran_1")
    generations = [
        GenerationRecord("g1", english.id, 1, "m", "ok", response="r"),
        GenerationRecord("g2", persian.id, 1, "m", "ok", response="r"),
        GenerationRecord("g3", persian.id, 2, "m", "error", error="timeout"),
    ]
    verdicts = [
        verdict("g1", english.id, 1, "awareness", 1),
        verdict("g2", persian.id, 1, "awareness", "parse_error"),
        verdict("g2", persian.id, 1, "education", "refused"),
        verdict("g2", persian.id, 1, "violation", 0),
        verdict("g3", persian.id, 2, "awareness", 1),  # on a failed generation: ignored
    ]
    assert unscored_by_language([english, persian], generations, verdicts) == {
        "English": {"ok": 1, "parse_error": 0, "api_error": 0, "refused": 0},
        "Persian": {"ok": 1, "parse_error": 1, "api_error": 0, "refused": 1},
    }
