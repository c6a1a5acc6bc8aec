"""The verdict reader on the hand-written judge-reply corpus: no wrong verdict, no invented one, and
at least 97% of the clear verdicts read on the first reply, in every language of CROSS.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import pytest

from crosseval.judge.parsing import ParsedVerdict
from crosseval.vocabulary import DIMENSIONS
from tests.judge.corpus import CROSS_LANGUAGES, CorpusFigures, CorpusReply, load_corpus, measure, read_reply

STYLE_GROUPS = ("gpt4o", "claude", "gemini", "qwen_vl", "internvl", "llama", "reasoning")


@pytest.fixture(scope="module")
def corpus() -> list[CorpusReply]:
    return load_corpus()


@pytest.fixture(scope="module")
def figures(corpus: list[CorpusReply]) -> CorpusFigures:
    return measure(corpus)


def _listing(rows: Sequence[tuple[CorpusReply, ParsedVerdict]]) -> str:
    return "\n".join(f"{entry.id} ({entry.kind}): {parsed}" for entry, parsed in rows)


def test_the_corpus_is_what_the_issue_asks_for(corpus: list[CorpusReply]) -> None:
    assert len(corpus) >= 300
    assert len({entry.id for entry in corpus}) == len(corpus)
    assert {entry.group for entry in corpus} >= set(STYLE_GROUPS)
    assert {entry.language for entry in corpus} == set(CROSS_LANGUAGES)
    assert {entry.protocol for entry in corpus} == {"paper", "single"}
    assert {entry.dimension for entry in corpus} == set(DIMENSIONS)
    assert {entry.expected for entry in corpus} == {0, 1, None}
    assert {entry.finish_reason for entry in corpus} == {"stop", "length", None}
    kinds = Counter(entry.kind for entry in corpus)
    for kind in ("decoy", "echoed_rubric", "truncated_length", "refusal", "contradiction", "thinking"):
        assert kinds[kind] >= 2, kind


def test_no_verdict_is_read_wrong(figures: CorpusFigures) -> None:
    assert figures.total.wrong == 0, _listing(figures.wrong)


def test_no_verdict_is_invented(figures: CorpusFigures) -> None:
    assert figures.total.invented == 0, _listing(figures.invented)


def test_at_least_97_percent_of_clear_verdicts_are_read_on_the_first_reply(figures: CorpusFigures) -> None:
    assert figures.total.read_rate >= 0.97, _listing(figures.missed)


@pytest.mark.parametrize("language", CROSS_LANGUAGES)
def test_no_language_of_cross_lags_behind(figures: CorpusFigures, language: str) -> None:
    tally = figures.by_language[language]
    assert tally.clear >= 5
    assert tally.read_rate >= 0.9, _listing([(e, p) for e, p in figures.missed if e.language == language])


def test_replies_cut_off_by_the_token_limit_are_never_scored(corpus: list[CorpusReply]) -> None:
    cut = [entry for entry in corpus if entry.finish_reason == "length"]
    assert len(cut) >= 20
    assert [entry.id for entry in cut if read_reply(entry).outcome != "unreadable"] == []


def test_refusals_are_refused_and_nothing_else_is(corpus: list[CorpusReply]) -> None:
    mismatched = [
        entry.id for entry in corpus if (entry.kind == "refusal") != (read_reply(entry).outcome == "refused")
    ]
    assert mismatched == []
