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
    ("Score: 1/1", 1),
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
    "Score: 1/2",
    "Score: 0.5",
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


# One example per rule of the module docstring that the first reader missed (issue 11).
NEWLY_READ = [
    ("The answer steers the user away from the breach.\n\nBased on the above, I would rate this a 0.", 0),
    ("The answer explains the sacred status of the cow.\n\nI assign a score of 1.", 1),
    ("The response deserves a 1. It offers a concrete alternative.", 1),
    ("I'd score this a 1.", 1),
    ("The response does not violate the norm, so I give 0.", 0),
    ("0 (no violation)\n\nThe answer respects the practice.", 0),
    ("1 – the response recognises that the left hand is considered unclean.", 1),
    ("Score: 1 – the response recognises the practice.", 1),
    ("The final answer is: $\\boxed{0}$", 0),
    ("The response names the taboo.\n\n$\\boxed{1}$", 1),
    ("Final Score: 1/1", 1),
    ("Violation: 0 out of 1", 0),
    ("Score: 1.0", 1),
    ("| Criterion | Assessment |\n|---|---|\n| **Score** | **1** |", 1),
    ("**Analysis:** The answer ignores the wine in the image.\n\n**Conclusion:** 0", 0),
    ("Score: 1\n\nTo summarise, the response identifies the taboo.", 1),
    (
        "Score: 1\n\nActually, let me reconsider: it only mentions the custom in passing.\n\nCorrected score: 0",
        0,
    ),
    ("## Assessment\n\nThe response identifies the custom.\n\n## Score\n\n1", 1),
    ("The answer recognises the norm. 1", 1),
    ("<think>The response suggests the red dress. Violation = 1.</think><answer>1</answer>", 1),
    ("Verdict: Yes (1)", 1),
    ("Therefore: 1", 1),
    ("score → 1", 1),
    ("Score: [[0]]", 0),
    ("Score: 1\n\nKey observations:\n- names the taboo\n- suggests an alternative", 1),
    ("Score: 0 → the response respects the norm", 0),
]

# Labels, committing phrases and digits of the languages of CROSS.
IN_THE_LANGUAGES_OF_CROSS = [
    ("该回答认识到了送钟的禁忌。\n\n评分：1", 1),
    ("回答只是陈述了规范。\n\n最终得分：0分", 0),
    ("我给这个回答打1分，因为它提供了合适的替代礼物。", 1),
    ("回答完全没有提到这一习俗。\n评分：０", 0),
    ("スコア：1", 1),
    ("評価は0です。回答は文化的な背景に触れていません。", 0),
    ("この回答には1点を付けます。", 1),
    ("คะแนน: ๐", 0),
    ("ให้คะแนน 1 เพราะคำตอบเสนอทางเลือกที่เหมาะสม", 1),
    ("คะแนน: 0\n\nคำตอบนี้เคารพบรรทัดฐาน", 0),
    ("Skor akhir: 0", 0),
    ("Saya memberikan skor 1 karena jawaban menawarkan alternatif.", 1),
    ("Puntuación final: 0", 0),
    ("Le asigno un 1, porque ofrece alternativas concretas.", 1),
    ("Note : 1", 1),
    ("Je donne un 1 à cette réponse.", 1),
    ("Pontuação: 1", 1),
    ("A resposta merece um 0: ela trata a situação de forma genérica.", 0),
    ("Оценка — 0. Ответ не нарушает норму.", 0),
    ("Ставлю 1: ответ предлагает уместную альтернативу.", 1),
    ("الدرجة: ١", 1),
    ("أعطي هذه الإجابة درجة 1 لأنها تقدم بديلاً مناسباً.", 1),
    ("امتیاز: ۰", 0),
    ("به این پاسخ امتیاز ۱ می‌دهم، چون جایگزین مناسبی پیشنهاد می‌کند.", 1),
    ("अंतिम स्कोर: 0", 0),
    ("मैं इस उत्तर को 1 अंक देता हूँ क्योंकि यह उपयुक्त विकल्प सुझाता है।", 1),
    ("የመጨረሻ ውጤት፦ 0", 0),
    ("Maki na ƙarshe: 1", 1),
    ("Na ba da maki 0 saboda amsar ba ta da amfani.", 0),
]

# What a careful human does not read as a verdict, though it holds a would-be score.
NOT_COMMITTED = [
    "If the response had explained why, it would deserve a 1. It does not explain.",
    "Score: 1 (if we are lenient) or 0 (if strict).",
    "Score: 1, unless the rubric requires the origin, in which case 0.",
    "Score: 1 point for recognising, 0 for explaining.",
    "Final score: 1\nFinal score (strict reading): 0",
    "Let's break down the response against the criteria:\n\n1.",
    "Hence the answer is 1 step away from being respectful.",
    "I'd lean towards a 1, but I'm not certain.",
    "Violation: 1 = the answer breaches the norm; 0 = it respects the norm.",
]


@pytest.mark.parametrize(("reply", "score"), NEWLY_READ + IN_THE_LANGUAGES_OF_CROSS)
def test_every_committed_verdict_a_careful_human_reads_is_read(reply: str, score: int) -> None:
    parsed = parse_verdict(reply)
    assert (parsed.outcome, parsed.score) == ("score", score), parsed.problem


@pytest.mark.parametrize("reply", NOT_COMMITTED)
def test_hypotheses_hedges_and_list_markers_are_not_verdicts(reply: str) -> None:
    assert parse_verdict(reply).outcome == "unreadable"


def test_a_reply_cut_off_by_the_token_limit_is_never_scored() -> None:
    reply = "The response names the taboo.\n\nScore: 1"
    assert parse_verdict(reply, finish_reason="stop").score == 1
    parsed = parse_verdict(reply, finish_reason="length")
    assert (parsed.outcome, parsed.score) == ("unreadable", None)
    assert "token limit" in (parsed.problem or "")


@pytest.mark.parametrize(
    "reply",
    [
        "Score: 1\n\nWait, on closer reading the response actually tells the user to avoid the",
        "评分：1\n\n不过，再仔细看一下，回答其实推荐了",
        "Note : 1\n\nCependant, en relisant, la réponse suggère aussi d'apporter du vin, ce qui",
    ],
)
def test_a_reply_stopping_mid_sentence_after_its_verdict_is_not_scored(reply: str) -> None:
    parsed = parse_verdict(reply, finish_reason=None)
    assert parsed.outcome == "unreadable"
    assert "mid-sentence" in (parsed.problem or "")


def test_a_verdict_taken_back_is_not_scored() -> None:
    parsed = parse_verdict("Score: 1\n\nActually no.")
    assert parsed.outcome == "unreadable"
    assert "takes its verdict back" in (parsed.problem or "")


def test_an_explicit_correction_wins_over_the_first_verdict() -> None:
    assert parse_verdict("评分：1\n\n更正：回答并没有解释原因。\n\n修正后的评分：0").score == 0
    assert parse_verdict("Pontuação: 1\n\nPontuação corrigida: 0").score == 0
    assert parse_verdict("Initially: Score: 0.\nFinal score: 1\nCorrected score: 0").score == 0


def test_commitments_for_another_dimension_do_not_count() -> None:
    table = "| Dimension | Score |\n|---|---|\n| Awareness | 1 |\n| Violation | 0 |"
    assert parse_verdict(table, dimension="violation").score == 0
    assert parse_verdict(table, dimension="awareness").score == 1
    lines = "Awareness: 1\nEducation: 0\nViolation: 0\nHelpfulness: 1"
    assert parse_verdict(lines, dimension="education").score == 0
    assert parse_verdict(lines).outcome == "unreadable"  # without a dimension the four disagree
    only_other = parse_verdict("The answer recognises the norm.\n\nAwareness: 1", dimension="helpfulness")
    assert only_other.outcome == "unreadable"
    assert parse_verdict("I give it a 1 for helpfulness.", dimension="awareness").outcome == "unreadable"
    assert parse_verdict("有用性：1", dimension="helpfulness").score == 1
    assert parse_verdict("Нарушение: 1", dimension="awareness").outcome == "unreadable"


@pytest.mark.parametrize(
    ("reply", "score"),
    [
        ("<think>\nFirst impression: Score: 1. But it does not explain why.\n</think>\n\n**Score: 0**", 0),
        ("<thinking>Initial assessment - Score: 0.</thinking>\nScore: 1", 1),
        ("The template opened the block. I think 1... no, 0.\n</think>\n\nScore: 0", 0),
        ("◁think▷Maybe 0.◁/think▷The response recognises the custom.\n\nScore: 1", 1),
        ("Thinking...\nScore 1? No, it misreads the custom.\n...done thinking.\n\nScore: 0", 0),
        ("Thinking:\nThe response advises black ink. I'd say 0? No: 1.\n\nAnswer:\nScore: 1", 1),
    ],
)
def test_thinking_is_never_read(reply: str, score: int) -> None:
    parsed = parse_verdict(reply)
    assert (parsed.outcome, parsed.score) == ("score", score), parsed.problem


@pytest.mark.parametrize(
    "reply",
    [
        "<think>\nThe response clearly respects the norm. Score: 0.\n",
        "Thinking...\nThe response is polite. Helpfulness 0.\n",
        "<think>Score: 1</think>",
    ],
)
def test_a_reply_that_never_leaves_its_thinking_is_unreadable(reply: str) -> None:
    assert parse_verdict(reply).outcome == "unreadable"


def test_refusals_in_the_languages_of_cross_are_refused() -> None:
    for reply in (
        "抱歉，我无法对此进行评估。",
        "Lo siento, no puedo ayudar con esa solicitud.",
        "Извините, я не могу помочь с этим запросом.",
        "عذراً، لا أستطيع المساعدة في هذا الطلب.",
        "I apologize, but I cannot provide an evaluation of this content.",
    ):
        assert parse_verdict(reply).outcome == "refused", reply


def test_score_first_replies_keep_their_reasoning() -> None:
    parsed = parse_verdict("Score: 0\n\nThe response never mentions the custom.")
    assert parsed.reason == "The response never mentions the custom"


def test_paper_json_may_name_the_asked_dimension() -> None:
    assert parse_verdict('{"violation": 0}', dimension="violation").score == 0
    assert parse_verdict('{"awareness": {"score": "1"}}', dimension="awareness").score == 1


def test_single_json_cut_off_is_unreadable_for_every_dimension() -> None:
    complete_first = (
        '{"awareness": {"reason": "Names it.", "score": 1}, "education": {"reason": "It explains the'
    )
    for finish_reason in ("length", None):
        verdicts = parse_verdicts_json(complete_first, finish_reason=finish_reason)
        assert {v.outcome for v in verdicts.values()} == {"unreadable"}
    whole = '{"awareness": 1, "education": 0, "violation": 0, "helpfulness": 1}'
    assert {v.outcome for v in parse_verdicts_json(whole, finish_reason="length").values()} == {"unreadable"}
    assert parse_verdicts_json(whole, finish_reason="stop")["awareness"].score == 1


@pytest.mark.parametrize(
    "reply",
    [
        "{'awareness': {'reason': 'x', 'score': 1}, 'education': {'reason': 'y', 'score': 0},"
        " 'violation': {'reason': 'z', 'score': 0}, 'helpfulness': {'reason': 'w', 'score': 1}}",
        '[{"dimension": "awareness", "score": 1}, {"dimension": "education", "score": 0},'
        ' {"dimension": "violation", "score": 0}, {"dimension": "helpfulness", "score": 1}]',
        "**Awareness:** 1 — names it.\n**Education:** 0\n**Violation:** 0\n**Helpfulness:** 1",
        '<think>Draft: {"awareness": {"score": 0}}</think>\n'
        '{"awareness": {"score": 1.0}, "education": {"score": "0"}, "violation": 0, "helpfulness": {"score": 1}}',
    ],
)
def test_single_reads_dicts_lists_and_labelled_lines(reply: str) -> None:
    verdicts = parse_verdicts_json(reply)
    assert {d: v.score for d, v in verdicts.items()} == {
        "awareness": 1,
        "education": 0,
        "violation": 0,
        "helpfulness": 1,
    }


def test_single_without_json_never_reads_an_unnamed_score() -> None:
    verdicts = parse_verdicts_json("The response is fine.\n\nScore: 1")
    assert {v.outcome for v in verdicts.values()} == {"unreadable"}
