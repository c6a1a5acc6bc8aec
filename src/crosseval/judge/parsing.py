"""Reading the verdict a judge commits to, and nothing else.

A judge reasons before it scores, and its reasoning is full of digits that are not verdicts: the
rubric's own "1 = recognises ...", "step 1", "in 2019", "a score of 0 or 1". The public reference code
took the last character of the reply; a first-digit parser fails just as easily. Here only an explicit
commitment counts, in English or in any language of CROSS (judges often answer in the query's
language). The rules, measured on the hand-written replies of `tests/judge/corpus/`:

Not read at all
- A reply cut off by the token limit (`finish_reason == "length"`): it may have been about to revise.
- Thinking: `<think>`, `<thinking>`, `<reasoning>`, `<thought>` and `◁think▷` blocks, everything
  before a lone closing tag (a chat template that opened the block itself), an Ollama
  "Thinking... ...done thinking." section, and a "Thinking:" header section that an "Answer:" header
  closes. A thinking block that never closes leaves the reply unreadable.

Commitments (each may carry a named dimension, and a rank: plain < final < corrected)
- Labelled: a score word, or a dimension's name, perhaps followed by up to three words ("Skor saya",
  "Score given", "Score for education", "the score here"), then `:` `=` `→` a dash or a copula ("is",
  "es", "est", "é", "adalah", "是", "为", "は", ...) then the digit: "Score: 1", "the verdict is **0**",
  "Awareness score: 1", "Conclusion: 1", "评分：1", "スコアは1", "Оценка — 0", "الدرجة: ١".
  "Final"/"corrected" words around the label ("Final score", "puntuación final", "最终评分",
  "Corrected score", "pontuação corrigida") rank it. "answer" alone counts only when its value ends
  the line ("The answer is 1." but not "the answer is 1 of"); "Therefore", "Hence", "Overall" only
  with a colon right after them ("Therefore: 1", not "Hence the answer is 1 step away"). The value
  may sit on the next line when the label opens its own line ("**Score:**" / "1").
- Committing phrases: "I would rate this a 0", "I assign a score of 1", "deserves a 1", "I give it 0",
  and their like in each language ("Le asigno un 1", "Je donne un 1", "Ставлю 1", "我给这个回答打1分",
  "1点を付けます", "ให้คะแนน 1", "امتیاز ۱ می‌دهم", "Na ba da maki 1", ...).
- A line that is only the digit, perhaps bold, boxed, with ".0" or "/1", or followed by a gloss in
  parentheses or after a dash ("0 (no violation)", "1 – recognises the practice"), when it is the first
  or last line of the reply and no list opens before it (a line ending in ":" makes "1." a list marker).
- The last line ending in a bolded digit ("... **0**") or in a digit after a full stop ("... norm. 1").
- `\\boxed{1}`, `<answer>1</answer>`, `<score>0</score>`.
- A markdown table row whose first cell is a score word or a dimension's name and a later cell the digit.
- A JSON object with a "score" key, or with the asked dimension's key.
What the value may be: 0 or 1, "1.0", "1/1", "0 out of 1", "1 point", "1分", "1 балл", "Yes (1)",
"none (0)", after markup or an emoji; digits of any script (`١`, `۰`, `०`, `๑`, `１`). Never "1.5",
"10", "1/2", "0 or 1", "0 to 1", "1 if ...", "1 = ...", "1 means ...".

Which commitments count
- A labelled or phrased commitment is a hedge, not a commitment, when its sentence holds a conditional
  ("If it had explained the origin, it would deserve a 1", "1, unless the rubric ...") or the other
  digit after it ("1 if lenient, 0 if strict", "1 point for recognising, 0 for explaining").
- Asked about one dimension, a commitment naming another ("Education: 0" in the awareness call, a
  table's other rows, "... a 1 for helpfulness") is not one for this dimension.
- The highest rank wins: a corrected commitment over a final one, a final one over plain ones. Within
  the winning rank, commitments that disagree make the reply unreadable (a contradiction).
- A reply whose text after its last commitment stops mid-sentence (ends in a letter, a comma, a colon
  or a dash) was cut off or was still revising: unreadable. A list item, heading or table row as the
  last line, a gloss on the verdict's own line ("Score: 0 → respects the norm") and Thai, written
  without full stops, end without one and are not cuts.
- A sentence after the last commitment that starts taking it back ("Actually no.", "Wait, ...",
  "En realidad", "等等", ...) leaves the reply unreadable.
- Without any commitment, a reply that opens with a refusal ("I'm sorry, I can't ...", "抱歉，我无法",
  "Lo siento, no puedo", ...) is a refusal; anything else is unreadable. A score is never guessed: the
  caller re-asks and, if the reply stays unreadable, stores a parse error.

The `single` protocol's JSON follows the same rules for truncation and thinking; its object may be
fenced, amid prose, written as a Python dict, nested under "verdicts" or given as a list of
`{"dimension": ..., "score": ...}`, with scores as 1, "1" or 1.0. An object that never closes is
unreadable for every dimension. Without an object, commitments that name a dimension ("Awareness: 1")
are read for that dimension only.
"""

from __future__ import annotations

import ast
import json
import re
import unicodedata
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, Literal

from crosseval.vocabulary import DIMENSIONS, Dimension

ParseOutcome = Literal["score", "refused", "unreadable"]


@dataclass(frozen=True)
class ParsedVerdict:
    """What one judge reply says about one dimension."""

    outcome: ParseOutcome
    score: int | None = None
    reason: str | None = None
    """The judge's reasoning: the text before its commitment (after it when the score comes first),
    or the JSON "reason"."""
    problem: str | None = None
    """Why the reply could not be read (for unreadable replies)."""


# --- The words of a verdict, in English and the languages of CROSS --------------------------------
# (Chinese, Japanese, Thai, Indonesian, Spanish, French, Portuguese, Russian, Arabic, Persian, Hindi,
# Amharic, Hausa.) Matching ignores case.

_SCORE_WORDS = (
    *("score", "rating", "verdict", "grade", "judgement", "judgment", "decision", "conclusion"),
    *("result", "assessment", "evaluation", "answer"),
    *("评分", "分数", "得分", "打分", "评分结果", "判定", "结论", "答案", "评价", "評分", "分數", "結論"),
    *("スコア", "評価", "得点", "点数", "採点", "判定"),
    *("คะแนน", "ผลการประเมิน", "คำตัดสิน", "สรุป", "ผลลัพธ์"),
    *("skor", "nilai", "penilaian", "keputusan", "kesimpulan", "vonis", "hasil"),
    *("puntuación", "puntaje", "calificación", "nota", "veredicto", "conclusión", "evaluación"),
    *("valoración", "resultado"),
    *("note", "évaluation", "résultat", "notation"),
    *("pontuação", "veredito", "avaliação", "conclusão"),
    *("оценка", "балл", "вердикт", "вывод", "заключение", "итог", "результат"),
    *("الدرجة", "درجة", "النتيجة", "التقييم", "الحكم", "الخلاصة", "الاستنتاج", "العلامة"),
    *("امتیاز", "نمره", "ارزیابی", "حکم", "نتیجه", "نتیجه‌گیری", "داوری"),
    *("स्कोर", "अंक", "मूल्यांकन", "निर्णय", "निष्कर्ष", "परिणाम"),
    *("ውጤት", "ነጥብ", "ግምገማ", "ውሳኔ", "መደምደሚያ", "ፍርድ"),
    *("maki", "sakamako", "hukunci", "kammalawa"),
)
_DIMENSION_WORDS: dict[Dimension, tuple[str, ...]] = {
    "awareness": (
        *("awareness", "cultural awareness", "意识", "文化意识", "认知", "意識", "認識", "文化的認識"),
        *("การตระหนักรู้", "ความตระหนักรู้", "ความตระหนัก", "kesadaran", "kesadaran budaya"),
        *("conciencia", "conciencia cultural", "sensibilisation", "conscience", "conscience culturelle"),
        *("consciência", "consciência cultural", "осведомлённость", "осведомленность", "осознание"),
        *("الوعي", "وعي", "الوعي الثقافي", "آگاهی", "آگاهی فرهنگی", "जागरूकता", "सांस्कृतिक जागरूकता"),
        *("ግንዛቤ", "wayewa"),
    ),
    "education": (
        *("education", "教育", "教育性", "การให้ความรู้", "edukasi", "pendidikan", "educación"),
        *("éducation", "educação", "образование", "просвещение", "образовательность"),
        *("التعليم", "التثقيف", "آموزش", "शिक्षा", "ትምህርት", "ilimi"),
    ),
    "violation": (
        *("violation", "违规", "违反", "违背", "違反", "การละเมิด", "pelanggaran", "violación"),
        *("infracción", "violação", "нарушение", "الانتهاك", "انتهاك", "المخالفة", "نقض", "उल्लंघन"),
        *("ጥሰት", "keta"),
    ),
    "helpfulness": (
        *("helpfulness", "usefulness", "有用性", "帮助性", "实用性", "有益性", "役立ち度"),
        *("ความเป็นประโยชน์", "kegunaan", "kebermanfaatan", "utilidad", "utilité", "utilidade"),
        *("полезность", "الفائدة", "المساعدة", "مفید بودن", "سودمندی", "सहायकता", "उपयोगिता"),
        *("ጠቃሚነት", "amfani"),
    ),
}
# "Final" and "corrected" come before the label in some languages and after it in others.
_FINAL_BEFORE = (
    *("final", "最终", "最終", "最后", "итоговая", "итоговый", "окончательная", "финальная", "अंतिम"),
    *("የመጨረሻ",),
)
_FINAL_AFTER = (
    *("final", "finale", "definitiva", "définitive", "akhir", "النهائية", "النهائي", "نهایی", "สุดท้าย"),
    *("na ƙarshe", "na karshe"),
)
_CORRECTED_BEFORE = (
    *("corrected", "revised", "updated", "amended", "修正后的", "修正后", "更正后的", "更正后"),
    *("修改后的", "修正後の", "訂正後の", "исправленная", "संशोधित"),
)
_CORRECTED_AFTER = (
    *("corrigée", "corrigé", "corregida", "corrigida", "revisada", "révisée", "koreksi", "yang dikoreksi"),
    *("المصححة", "المعدلة", "اصلاح‌شده", "ที่แก้ไข", "da aka gyara"),
)
# "... a 1 for helpfulness", "... 0 pour l'utilité".
_DIMENSION_LINKS = ("for", "on", "in", "de", "du", "pour", "para", "по", "untuk")
_COPULAS = (
    *("is", "was", "would be", "should be", "will be", "remains", "es", "sería", "est", "serait"),
    *("é", "será", "seria", "adalah", "ialah", "yaitu", "составляет", "هي", "هو"),
)
_CJK_COPULAS = ("是", "为", "為", "は")
_UNITS = ("point", "points", "pt", "pts", "分", "点", "балл", "балла", "баллов", "poin", "نقطة", "अंक")
_YES_NO = (
    *("yes", "no", "none", "oui", "non", "aucune", "sí", "si", "sim", "não", "nenhuma", "ninguna"),
    *("да", "нет", "ya", "tidak", "是", "否", "无", "はい"),
)
# Words right after a value that turn it into something else: "0 or 1", "1 means", "1 if ...".
_NOT_A_VERDICT_AFTER = (
    *("or", "to", "if", "when", "unless", "only", "means", "meaning", "indicates", "represents"),
    *("requires", "would", "could", "might", "out", "of"),
    *("o", "ou", "или", "atau", "或", "或者", "si", "se", "если", "jika", "significa", "signifie"),
    *("berarti", "означает", "表示", "意味", "は", "يعني", "یعنی", "का अर्थ", "หมายถึง", "ማለት"),
    *("yana nufin",),
)
# Words that make the sentence before a commitment a hypothesis: "If it had explained, it would get 1".
_CONDITIONALS = (
    *("if", "unless", "were it", "had it", "would have", "otherwise", "si", "caso", "если"),
    *("jika", "kalau", "apabila", "seandainya", "إذا", "لو", "اگر", "यदि", "अगर", "ถ้า", "หาก"),
    *("如果", "若", "假如", "要是", "もし", "idan"),
)

# Scripts written without spaces: their words need no word boundary around them.
_UNSPACED = re.compile(r"[\u0e00-\u0e7f\u3040-\u30ff\u3400-\u9fff\uf900-\ufaff]")


def _alternation(words: tuple[str, ...]) -> str:
    """A regex alternation of `words`, longest first, each bounded where its script has spaces."""
    parts = []
    for word in sorted(set(words), key=len, reverse=True):
        body = r"\s+".join(re.escape(piece) for piece in word.split())
        parts.append(body if _UNSPACED.search(word) else rf"(?<!\w){body}(?!\w)")
    return "(?:" + "|".join(parts) + ")"


_ALL_DIMENSION_WORDS = tuple(word for words in _DIMENSION_WORDS.values() for word in words)
_DIMENSION_OF_WORD = {
    " ".join(word.casefold().split()): dimension
    for dimension, words in _DIMENSION_WORDS.items()
    for word in words
}
_DIMENSION_RE = re.compile(_alternation(_ALL_DIMENSION_WORDS), re.IGNORECASE)
_FINAL_RE = re.compile(_alternation(_FINAL_BEFORE + _FINAL_AFTER), re.IGNORECASE)


class _Rank(IntEnum):
    """Which of a reply's commitments wins: a corrected one over a final one over plain ones."""

    PLAIN = 0
    FINAL = 1
    CORRECTED = 2


# The value of a commitment: 0 or 1 (after any markup), as "1.0", "1/1" or "1 out of 1", and not the
# start of a number, a range, a fraction of something else or a phrase that makes it a definition.
_OPEN = (
    r"(?:[*_`\"'«“„(\[$ \t\u2600-\u27bf\ufe0f\U0001f300-\U0001faff]|\\boxed\{|\\text\{"
    r"|" + _alternation(_YES_NO) + r"[ \t]*[(（])*"
)
_VALUE = (
    _OPEN + r"(?P<digit>[01])(?:\.0)?(?!\d)(?![.,]\d)"
    r"(?:[ \t]*/[ \t]*1|[ \t]+(?:out[ \t]+of|of|sur|из|dari)[ \t]+1)?(?![\d/%])(?![.,]\d)"
    r"(?:[ \t]*" + _alternation(_UNITS) + r")?"
    r"(?![ \t]*[-–—][ \t]*\d)"
    r"(?![ \t]*[*_`\"'”»)\]}$]*[ \t]*(?:" + _alternation(_NOT_A_VERDICT_AFTER) + r"|[=＝]))"
)
_SEPARATOR = (
    r"[*_`]*[ \t]*(?P<separator>[:：=፦፡→⇒]|=>|->|[-–—]|[ \t]"
    + _alternation(_COPULAS)
    + r"(?:[ \t]+(?:de|of))?"
    r"|" + "|".join(_CJK_COPULAS) + r")[ \t]*[:：]?[ \t]*(?P<newlines>(?:\n[ \t]*){0,2})"
)
# Up to three words between a label and its separator: "Skor saya:", "Score given:", "Score for
# awareness:", "the score here is", "Corrected score after review:".
_FILLER = r"(?:[ \t]*[^\s\d:：=|.,;!?。，、*_`()（）\[\]{}<>\"'→⇒-]{1,20}){0,3}?"
_LABELLED = re.compile(
    r"(?:(?P<corrected_before>" + _alternation(_CORRECTED_BEFORE) + r")[ \t]*)?"
    r"(?:(?P<final_before>" + _alternation(_FINAL_BEFORE) + r")[ \t]*)?"
    r"(?P<label>" + _alternation(_SCORE_WORDS + _ALL_DIMENSION_WORDS) + r")"
    r"(?:[ \t]*(?P<final_after>" + _alternation(_FINAL_AFTER) + r"))?"
    r"(?:[ \t]*(?P<corrected_after>" + _alternation(_CORRECTED_AFTER) + r"))?"
    r"(?:[ \t]*[(（][^()（）\n]{1,40}[)）])?" + _FILLER + _SEPARATOR + _VALUE,
    re.IGNORECASE,
)
# Words that introduce a conclusion label a value only with a colon right after them ("Therefore: 1"),
# never "Hence the answer is 1 step away".
_CONCLUDING = re.compile(
    _alternation(("therefore", "thus", "hence", "overall", "in conclusion", "in summary"))
    + r"[*_`]*[ \t]*[:：][ \t]*"
    + _VALUE,
    re.IGNORECASE,
)
# What may precede a label whose value sits on the next line: "**Final verdict:**" / "1".
_LABEL_LINE_START = re.compile(r"(?:^|\n)[ \t*_#>-]*(?:(?:my|the|our|mi|ma|mon|la|le|a|o)[ \t]+)?$", re.I)

_I = (
    r"(?<!\w)i(?:'d|’d|'ll|’ll|'m[ \t]+going[ \t]+to|’m[ \t]+going[ \t]+to"
    r"|[ \t]+(?:would|will|must|am[ \t]+going[ \t]+to|have[ \t]+to))?"
)
_ENGLISH_SCORE_NOUN = (
    r"(?:(?:an?|the)[ \t]+)?(?:(?:final[ \t]+)?(?:score|rating|grade|mark)[ \t]+(?:of[ \t]+)?)?"
)
_COMMITTING_PHRASES = tuple(
    re.compile(pattern.replace("VALUE", _VALUE), re.IGNORECASE)
    for pattern in (
        _I + r"[ \t]+(?:rate|score|grade|mark)[ \t]+(?:this|it|the[ \t]+(?:response|answer))"
        r"(?:[ \t]+(?:response|answer))?[ \t]+(?:as[ \t]+)?(?:an?[ \t]+)?VALUE",
        _I
        + r"[ \t]+(?:assign|give|award)[ \t]+(?:(?:this|it|the)(?:[ \t]+(?:response|answer))?[ \t]+)?"
        + _ENGLISH_SCORE_NOUN
        + "VALUE",
        r"(?<!\w)(?:deserves|merits|earns|warrants|receives|should[ \t]+receive|should[ \t]+get)[ \t]+"
        + _ENGLISH_SCORE_NOUN
        + "VALUE",
        r"(?<!\w)(?:assigning|giving|awarding)[ \t]+(?:(?:this|it|the)(?:[ \t]+(?:response|answer))?[ \t]+)?"
        + _ENGLISH_SCORE_NOUN
        + "VALUE",
        r"(?<!\w)(?:gets|scores)[ \t]+an?[ \t]+VALUE",
        r"(?<!\w)(?:doy|asigno|otorgo|pongo|donne|attribue|dou|atribuo)[ \t]+(?:[^\s\d]+[ \t]+){1,3}?"
        r"(?:un|une|um)[ \t]+VALUE",
        r"(?<!\w)(?:le[ \t]+)?(?:asigno|doy|otorgo|pongo)[ \t]+(?:(?:una?[ \t]+)?(?:puntuación|nota|"
        r"calificación|puntaje)[ \t]+(?:de[ \t]+)?)?(?:una?[ \t]+)?VALUE",
        r"(?<!\w)merece[ \t]+(?:(?:una?|a)[ \t]+)?(?:(?:puntuación|nota|calificación|pontuação)[ \t]+"
        r"(?:de[ \t]+)?)?(?:una?[ \t]+|um[ \t]+)?VALUE",
        r"(?<!\w)je[ \t]+(?:lui[ \t]+)?(?:donne|attribue|mets)[ \t]+(?:(?:la|une)[ \t]+note[ \t]+"
        r"(?:de[ \t]+)?)?(?:une?[ \t]+)?VALUE",
        r"(?<!\w)mérite[ \t]+(?:(?:la|une)[ \t]+note[ \t]+(?:de[ \t]+)?)?(?:une?[ \t]+)?VALUE",
        r"(?<!\w)(?:atribuo|dou)[ \t]+(?:(?:a[ \t]+)?(?:nota|pontuação)[ \t]+)?(?:um[ \t]+)?VALUE",
        r"(?<!\w)(?:ставлю|выставляю|присваиваю|даю)[ \t]+(?:(?:оценку|балл)[ \t]+)?VALUE",
        r"(?<!\w)заслуживает[ \t]+(?:(?:оценки|балла)[ \t]+)?VALUE",
        r"(?<!\w)(?:memberikan|memberi)[ \t]+(?:(?:skor|nilai)[ \t]+)?VALUE",
        r"(?<!\w)layak[ \t]+(?:mendapat(?:kan)?[ \t]+)?(?:(?:skor|nilai)[ \t]+)?VALUE",
        r"(?<!\w)(?:أعطي|أمنح)[ \t]+(?:\S+[ \t]+){0,3}?(?:ال)?(?:درجة|علامة|تقييم)[ \t]+VALUE",
        r"(?<!\w)تستحق[ \t]+(?:(?:ال)?(?:درجة|علامة)[ \t]+)?VALUE",
        r"(?<!\w)(?:امتیاز|نمره)[ \t]+VALUE[ \t]*(?:می‌دهم|میدهم|می[ \t]+دهم|است)",
        r"VALUE[ \t]*(?:अंक|स्कोर)?[ \t]*(?:देता|देती|दूँगा|दूंगा|दूँगी|दूंगी)",
        r"(?:打|给|给予|给出|应得)[ \t]*VALUE[ \t]*分",
        r"(?:评为|判为|定为|评定为)[ \t]*VALUE",
        r"VALUE[ \t]*(?:点[ \t]*(?:を|と)?[ \t]*(?:付け|つけ|与え)|と(?:評価|判定))",
        r"ให้คะแนน[ \t]*VALUE",
        r"VALUE[ \t]*(?:ነጥብ[ \t]*)?እሰጣለሁ",
        r"(?<!\w)(?:na|zan|ina)[ \t]+ba(?:[ \t]+da)?[ \t]+(?:maki[ \t]+)?VALUE",
        r"(?<!\w)cancanci[ \t]+(?:maki[ \t]+)?VALUE",
    )
)
_CONDITIONAL_RE = re.compile(_alternation(_CONDITIONALS), re.IGNORECASE)
# A sentence that starts taking the verdict back: "Actually no.", "Wait, ...", "再想想".
_REVISING = re.compile(
    r"(?:^|[.!?。！？\n])[ \t*_]*(?:actually|wait|hmm+|on second thought|on reflection|let me reconsider"
    r"|scratch that|no,? wait|espera|pensándolo bien|en realidad|attendez|en fait|à la réflexion|espere"
    r"|na verdade|pensando bem|подождите|на самом деле|хотя нет|tunggu|sebenarnya|انتظر|في الواقع|صبر کن"
    r"|در واقع|रुकिए|वास्तव में|เดี๋ยว|等等|不对|再想想|待って|いや|ቆይ|jira)(?!\w)",
    re.IGNORECASE,
)
_SENTENCE_BREAK = re.compile(r"[.!?](?!\d)|[。！？\n;；]")
_OTHER_VERDICT_DIGIT = re.compile(r"(?<![\d.,/])[01](?![\d.,/])")
_FOR_DIMENSION_AFTER = re.compile(
    r"[ \t*_]*(?:"
    + _alternation(_DIMENSION_LINKS)
    + r")[ \t]+(?:the[ \t]+)?(?P<dimension>"
    + _alternation(_ALL_DIMENSION_WORDS)
    + ")",
    re.IGNORECASE,
)

_LINE_VERDICT = re.compile(
    r"^[ \t]*(?:[*_`#>\"'(\[$]|\\boxed\{|\\text\{)*(?P<digit>[01])(?:\.0)?(?:[ \t]*/[ \t]*1)?"
    r"(?:[*_`\"')\]}$]|\.(?!\d)|!)*"
    r"(?:[ \t]*[(（][^()（）\n]{1,100}[)）]|[ \t]+[-–—][ \t]+[^\n]{1,200})?[ \t.!。]*$"
)
_LIST_MARKER = re.compile(r"^[ \t]*[01]\.[ \t]*$")
_TRAILING_DIGIT = re.compile(
    r"(?:\*\*[ \t]*(?P<bold>[01])[ \t]*\*\*|(?<=[.!?。！？])[ \t]+(?P<bare>[01]))[ \t.!]*$"
)
_BOXED = re.compile(r"\\boxed\{[ \t]*(?:\\text\{[ \t]*)?(?P<digit>[01])[ \t]*\}?[ \t]*\}")
_TAGGED = re.compile(
    r"<(?P<tag>score|verdict|answer|rating)>[ \t\n]*(?P<digit>[01])[ \t\n]*</(?P=tag)>", re.I
)
_TABLE_ROW = re.compile(r"^[ \t]*\|(?P<cells>.+)\|[ \t]*$", re.MULTILINE)
_TABLE_VALUE = re.compile(r"[ \t*_`]*([01])(?:[ \t]*/[ \t]*1)?[ \t*_`]*")
_SCORE_WORD_CELL = re.compile(r"^" + _alternation(_SCORE_WORDS) + r"$", re.IGNORECASE)

_THINK_BLOCK = re.compile(
    r"<(?P<tag>think|thinking|reasoning|thought)>.*?</(?P=tag)>|◁think▷.*?◁/think▷", re.DOTALL | re.I
)
_THINK_OPEN = re.compile(r"<(?:think|thinking|reasoning|thought)>|◁think▷", re.I)
_THINK_CLOSE = re.compile(r"</(?:think|thinking|reasoning|thought)>|◁/think▷", re.I)
_OLLAMA_THINKING = re.compile(r"^\s*Thinking\.\.\.\n.*?(?:\n\.\.\.done thinking\.|$)", re.DOTALL)
_THINKING_HEADER = re.compile(
    r"^\s*(?:\*\*)?(?:thinking|thought process|thoughts)(?:\*\*)?\s*:?(?:\*\*)?\s*\n", re.I
)
_ANSWER_HEADER = re.compile(
    r"^[ \t]*(?:\*\*)?(?:final[ \t]+)?(?:answer|response|output)(?:\*\*)?[ \t]*:?(?:\*\*)?[ \t]*$",
    re.I | re.M,
)

_REFUSAL = re.compile(
    r"^\W*(?:"
    r"(?:i'?m\s+sorry|i\s+am\s+sorry|sorry|i\s+apologi[sz]e|i\s+(?:can(?:'|’)t|cannot|can\s+not)|i\s+am\s+(?:not\s+able|unable)"
    r"|i'?m\s+(?:not\s+able|unable)|i\s+won'?t|i\s+will\s+not|as\s+an\s+ai|i\s+(?:don'?t|do\s+not)\s+feel"
    r"\s+comfortable)\b.{0,200}?\b(?:help|assist|evaluate|judge|comply|provide|do\s+that|score|rate|with\s+that"
    r"|this\s+request|making\s+this)"
    r"|(?:抱歉|对不起|很抱歉).{0,40}?(?:无法|不能)"
    r"|申し訳(?:ありません|ございません).{0,60}?できません"
    r"|ขออภัย.{0,80}?ไม่สามารถ"
    r"|maaf.{0,80}?tidak\s+(?:dapat|bisa)"
    r"|lo\s+siento.{0,80}?no\s+puedo"
    r"|(?:je\s+suis\s+)?désolée?.{0,80}?je\s+ne\s+(?:peux|suis)"
    r"|(?:desculpe|sinto\s+muito).{0,80}?não\s+posso"
    r"|(?:извините|простите|к\s+сожалению).{0,80}?не\s+могу"
    r"|(?:عذراً|عذرا|آسف|أعتذر).{0,80}?لا\s+أستطيع"
    r"|(?:متأسفم|متاسفم|ببخشید).{0,80}?نمی‌?\s?توانم"
    r"|(?:क्षमा\s+करें|माफ़?\s+(?:कीजिए|करें)).{0,80}?नहीं\s+कर\s+सकत"
    r"|ይቅርታ.{0,80}?አልችልም"
    r"|yi\s+ha[kƙ]uri.{0,80}?ba\s+zan\s+iya"
    r")",
    re.IGNORECASE | re.DOTALL,
)
_CUT_OFF_LENGTH = "the reply was cut off by the token limit (finish_reason=length)"
_MID_SENTENCE_END = frozenset(",;:-–—([（、，")
# "Score: 0 → the response respects the norm": a gloss on the verdict's own line.
_SAME_LINE_GLOSS = re.compile(r"^[ \t*_]*(?:[-–—→⇒:(（]|->)[^\n]*$")
# A list item, heading or table row: written without a full stop, not a sign of a cut.
_LIST_OR_TABLE_LINE = re.compile(r"^[ \t]*(?:[-*•+][ \t]|\d{1,2}[.)][ \t]|#|\|)")


@dataclass(frozen=True)
class _Commitment:
    start: int
    end: int
    digit_at: int
    digit: int
    rank: _Rank
    dimension: Dimension | None


def parse_verdict(
    text: str | None, dimension: Dimension | None = None, finish_reason: str | None = None
) -> ParsedVerdict:
    """Read the 0 or 1 a judge commits to in a free-text reply (the `paper` protocol).

    `dimension` is the one the call asked about: commitments naming another dimension do not count
    (without it, every commitment does). `finish_reason` is the server's; `length` is never scored.
    """
    if text is None or not text.strip():
        return ParsedVerdict("unreadable", problem="empty reply")
    if finish_reason == "length":
        return ParsedVerdict("unreadable", problem=_CUT_OFF_LENGTH)
    visible, problem = _without_thinking(text)
    if problem is not None:
        return ParsedVerdict("unreadable", problem=problem)
    body = _ascii_digits(visible)

    from_json = _score_from_json(body, dimension)
    if from_json is not None:
        return from_json

    commitments = [c for c in _commitments(body) if dimension is None or c.dimension in (None, dimension)]
    if not commitments:
        if _REFUSAL.search(body[:400]):
            return ParsedVerdict("refused", reason=visible, problem="the judge declined to give a verdict")
        return ParsedVerdict("unreadable", problem="no committed 0 or 1 found")
    return _decide(visible, commitments)


def _decide(visible: str, commitments: list[_Commitment]) -> ParsedVerdict:
    """The verdict of a reply's commitments (see the module rules), or why there is none."""
    top = max(c.rank for c in commitments)
    counted = [c for c in commitments if c.rank == top]
    if len({c.digit for c in counted}) > 1:
        return ParsedVerdict("unreadable", problem="contradictory verdicts: both 0 and 1 are committed to")
    last_end = max(c.end for c in commitments)
    if _stops_mid_sentence(visible[last_end:]):
        return ParsedVerdict(
            "unreadable",
            problem="the reply stops mid-sentence after its verdict (cut off, or still revising it)",
        )
    if _REVISING.search(visible[last_end:]):
        return ParsedVerdict("unreadable", problem="the judge takes its verdict back after giving it")
    first_start = min(c.start for c in counted)
    reason = visible[:first_start].strip() or visible[last_end:].strip(" \t\n*_`.)]") or None
    return ParsedVerdict("score", score=counted[0].digit, reason=reason)


def _stops_mid_sentence(trailing: str) -> bool:
    tail = trailing.rstrip()
    if not tail or _LIST_OR_TABLE_LINE.match(tail.rsplit("\n", 1)[-1]) or _SAME_LINE_GLOSS.match(tail):
        return False
    last = tail[-1]
    if "\u0e00" <= last <= "\u0e7f":  # Thai ends sentences without punctuation
        return False
    return last.isalpha() or last in _MID_SENTENCE_END


def _without_thinking(text: str) -> tuple[str, str | None]:
    """The reply without its thinking, or the problem when the thinking never ends."""
    visible = _THINK_BLOCK.sub("\n", text)
    closes = list(_THINK_CLOSE.finditer(visible))
    if closes:
        visible = visible[closes[-1].end() :]
    if _THINK_OPEN.search(visible):
        return visible, "the reply ends inside its thinking block"
    ollama = _OLLAMA_THINKING.match(visible)
    if ollama is not None:
        if not ollama.group(0).rstrip().endswith("...done thinking."):
            return visible, "the reply ends inside its thinking section"
        visible = visible[ollama.end() :]
    header = _THINKING_HEADER.match(visible)
    if header is not None:
        answer = _ANSWER_HEADER.search(visible, header.end())
        if answer is not None:
            visible = visible[answer.start() :]
    if not visible.strip():
        return visible, "the reply holds only its thinking"
    return visible, None


def _ascii_digits(text: str) -> str:
    """`text` with every decimal digit of any script as its ASCII digit (same length, same offsets)."""
    return re.sub(r"\d", lambda m: str(unicodedata.decimal(m.group(), 0)), text)


def _commitments(body: str) -> list[_Commitment]:
    """Every commitment in `body`, one per digit (the highest rank and any named dimension kept)."""
    found: dict[int, _Commitment] = {}
    for commitment in (
        *_labelled(body),
        *_phrased(body),
        *_line_verdicts(body),
        *_marked_up(body),
        *_table_rows(body),
    ):
        known = found.get(commitment.digit_at)
        if known is None or (commitment.rank, commitment.dimension is not None) > (
            known.rank,
            known.dimension is not None,
        ):
            found[commitment.digit_at] = commitment
    return sorted(found.values(), key=lambda c: c.digit_at)


def _labelled(body: str) -> list[_Commitment]:
    out = []
    for match in _LABELLED.finditer(body):
        digit_at = match.start("digit")
        rest_of_line = body[match.end() : _line_end(body, match.end())]
        if match.group("newlines") and (
            rest_of_line.strip(" \t*_`.!)]") or not _LABEL_LINE_START.search(body[: match.start()])
        ):
            continue  # "Here is my evaluation:\n1. The answer ..." opens a list
        label = match.group("label").casefold()
        if label == "answer" and not match.group("final_before") and rest_of_line.strip(" \t*_`.!"):
            continue  # "the answer is 1 of the few ..." speaks of the judged answer
        if _hedged(body, match.start(), match.end(), int(match.group("digit"))):
            continue
        rank = _Rank.PLAIN
        if match.group("corrected_before") or match.group("corrected_after"):
            rank = _Rank.CORRECTED
        elif match.group("final_before") or match.group("final_after"):
            rank = _Rank.FINAL
        named = _named_dimension(body[match.start() : match.start("separator")]) or _dimension_after(
            body, match.end()
        )
        out.append(_Commitment(match.start(), match.end(), digit_at, int(match.group("digit")), rank, named))
    return out


def _phrased(body: str) -> list[_Commitment]:
    out = []
    for pattern in (*_COMMITTING_PHRASES, _CONCLUDING):
        for match in pattern.finditer(body):
            if _hedged(body, match.start(), match.end(), int(match.group("digit"))):
                continue
            rank = _Rank.FINAL if _FINAL_RE.search(match.group(0)) else _Rank.PLAIN
            named = _dimension_after(body, match.end())
            out.append(
                _Commitment(
                    match.start(), match.end(), match.start("digit"), int(match.group("digit")), rank, named
                )
            )
    return out


def _line_verdicts(body: str) -> list[_Commitment]:
    """A first or last line that is only the verdict, and a last line that ends in it."""
    lines = [(m.start(), m.group(0)) for m in re.finditer(r"[^\n]*\S[^\n]*", body)]
    if not lines:
        return []
    out = []
    for index in sorted({0, len(lines) - 1}):
        start, line = lines[index]
        match = _LINE_VERDICT.match(line)
        if match is None:
            continue
        previous = lines[index - 1][1].rstrip(" \t*_") if index > 0 else ""
        following = lines[index + 1][1].lstrip(" \t*_") if index + 1 < len(lines) else ""
        if _LIST_MARKER.match(line) and (previous.endswith((":", "：")) or following.startswith("2")):
            continue
        digit_at = start + match.start("digit")
        out.append(
            _Commitment(start, start + len(line), digit_at, int(match.group("digit")), _Rank.PLAIN, None)
        )
    start, line = lines[-1]
    trailing = _TRAILING_DIGIT.search(line)
    if trailing is not None:
        group = "bold" if trailing.group("bold") is not None else "bare"
        digit_at = start + trailing.start(group)
        out.append(
            _Commitment(
                start + trailing.start(),
                start + len(line),
                digit_at,
                int(trailing.group(group)),
                _Rank.PLAIN,
                None,
            )
        )
    return out


def _marked_up(body: str) -> list[_Commitment]:
    """`\\boxed{1}` and `<score>1</score>`-style tags."""
    return [
        _Commitment(m.start(), m.end(), m.start("digit"), int(m.group("digit")), _Rank.PLAIN, None)
        for pattern in (_BOXED, _TAGGED)
        for m in pattern.finditer(body)
    ]


def _table_rows(body: str) -> list[_Commitment]:
    """`| Awareness | 1 | ... |` or `| **Score** | **1** |`: the first cell names it, a later one holds it."""
    out = []
    for row in _TABLE_ROW.finditer(body):
        cells = row.group("cells").split("|")
        first = cells[0].strip(" \t*_`")
        named = _DIMENSION_OF_WORD.get(" ".join(first.casefold().split()))
        if named is None and not _SCORE_WORD_CELL.match(first):
            continue
        offset = row.start("cells") + len(cells[0]) + 1
        for cell in cells[1:]:
            value = _TABLE_VALUE.fullmatch(cell)
            if value is not None:
                digit_at = offset + value.start(1)
                out.append(
                    _Commitment(row.start(), row.end(), digit_at, int(value.group(1)), _Rank.PLAIN, named)
                )
                break
            offset += len(cell) + 1
    return out


def _line_end(body: str, position: int) -> int:
    end = body.find("\n", position)
    return len(body) if end < 0 else end


def _hedged(body: str, start: int, end: int, digit: int) -> bool:
    """Whether the sentence of a commitment makes it a hypothesis or a hedge: a conditional anywhere in
    it ("If it had ..., it would get 1", "1, unless ...") or the other digit after it ("1 if lenient,
    0 if strict", "1 point for recognising, 0 for explaining")."""
    sentence_start = 0
    for boundary in _SENTENCE_BREAK.finditer(body, 0, start):
        sentence_start = boundary.end()
    following = _SENTENCE_BREAK.search(body, end)
    sentence_end = following.start() if following is not None else len(body)
    if _CONDITIONAL_RE.search(body, sentence_start, sentence_end) is not None:
        return True
    return any(int(m.group()) != digit for m in _OTHER_VERDICT_DIGIT.finditer(body, end, sentence_end))


def _named_dimension(text: str) -> Dimension | None:
    found = _DIMENSION_RE.search(text)
    return _DIMENSION_OF_WORD[" ".join(found.group(0).casefold().split())] if found is not None else None


def _dimension_after(body: str, position: int) -> Dimension | None:
    """The dimension a commitment names right after its value ("... a 1 for helpfulness")."""
    match = _FOR_DIMENSION_AFTER.match(body, position)
    return _named_dimension(match.group("dimension")) if match is not None else None


def parse_verdicts_json(text: str | None, finish_reason: str | None = None) -> dict[Dimension, ParsedVerdict]:
    """Read the four verdicts of a `single`-protocol reply (a JSON object, found tolerantly).

    Accepts the object alone, inside a code fence, amid prose or as a Python dict; per dimension either
    `{"reason": ..., "score": 0|1}` or a bare 0/1 (also "1" or 1.0); keys in any case. A dimension whose
    value is missing or not 0/1 is unreadable; the others still count. A reply cut off by the token
    limit, or whose object never closes, is unreadable for every dimension.
    """

    def every(verdict: ParsedVerdict) -> dict[Dimension, ParsedVerdict]:
        return dict.fromkeys(DIMENSIONS, verdict)

    if text is None or not text.strip():
        return every(ParsedVerdict("unreadable", problem="empty reply"))
    if finish_reason == "length":
        return every(ParsedVerdict("unreadable", problem=_CUT_OFF_LENGTH))
    visible, problem = _without_thinking(text)
    if problem is not None:
        return every(ParsedVerdict("unreadable", problem=problem))
    obj = _find_json_object(visible)
    if obj is None:
        if visible.count("{") > visible.count("}"):
            return every(ParsedVerdict("unreadable", problem="the JSON object is cut off"))
        return _verdicts_from_labelled_lines(visible)
    if isinstance(obj.get("verdicts"), dict):
        obj = obj["verdicts"]
    lowered = {str(k).strip().lower(): v for k, v in obj.items()}
    return {dimension: _json_entry_verdict(lowered.get(dimension), dimension) for dimension in DIMENSIONS}


def _verdicts_from_labelled_lines(visible: str) -> dict[Dimension, ParsedVerdict]:
    """A `single` reply without JSON: each dimension read from the commitments that name it."""
    body = _ascii_digits(visible)
    commitments = _commitments(body)
    verdicts: dict[Dimension, ParsedVerdict] = {}
    for dimension in DIMENSIONS:
        named = [c for c in commitments if c.dimension == dimension]
        if named:
            verdicts[dimension] = _decide(visible, named)
        elif _REFUSAL.search(body[:400]):
            verdicts[dimension] = ParsedVerdict(
                "refused", reason=visible.strip(), problem="the judge declined to give a verdict"
            )
        else:
            verdicts[dimension] = ParsedVerdict(
                "unreadable", problem=f"no JSON object found, nor a line scoring {dimension!r}"
            )
    return verdicts


def _json_entry_verdict(value: Any, dimension: Dimension) -> ParsedVerdict:
    if value is None:
        return ParsedVerdict("unreadable", problem=f"no {dimension!r} key in the JSON object")
    reason: str | None = None
    raw_score: Any = value
    if isinstance(value, dict):
        entry = {str(k).strip().lower(): v for k, v in value.items()}
        raw_score = entry.get("score")
        reason = _json_reason(entry)
    score = _as_binary(raw_score)
    if score is None:
        return ParsedVerdict(
            "unreadable", reason=reason, problem=f"{dimension!r} score is {raw_score!r}, not 0 or 1"
        )
    return ParsedVerdict("score", score=score, reason=reason)


def _json_reason(entry: dict[str, Any]) -> str | None:
    reason_value = entry.get("reason", entry.get("reasoning", entry.get("explanation")))
    return str(reason_value) if reason_value is not None else None


def _as_binary(value: Any) -> int | None:
    if isinstance(value, bool):
        return None  # true/false is ambiguous for "violation"; only 0 and 1 are verdicts
    if isinstance(value, int) and value in (0, 1):
        return value
    if isinstance(value, float) and value in (0.0, 1.0):
        return int(value)
    if isinstance(value, str) and value.strip() in ("0", "1", "0.0", "1.0"):
        return int(float(value.strip()))
    return None


def _score_from_json(body: str, dimension: Dimension | None) -> ParsedVerdict | None:
    """A reply holding a JSON object with a "score" key, or with the asked dimension's key."""
    obj = _find_json_object(body)
    if obj is None:
        return None
    entry = {str(k).strip().lower(): v for k, v in obj.items()}
    if "score" in entry:
        score = _as_binary(entry["score"])
        reason = _json_reason(entry)
        if score is None:
            return ParsedVerdict(
                "unreadable", reason=reason, problem=f"JSON score is {entry['score']!r}, not 0 or 1"
            )
        return ParsedVerdict("score", score=score, reason=reason)
    if dimension is not None and dimension in entry:
        return _json_entry_verdict(entry[dimension], dimension)
    return None


_FENCE = re.compile(r"```(?:json|python)?\s*(.*?)```", re.DOTALL | re.IGNORECASE)
_TRAILING_COMMA = re.compile(r",\s*([}\]])")


def _loads_object(candidate: str) -> dict[str, Any] | None:
    """`candidate` as a JSON object (or a Python dict literal), forgiving trailing commas; else None."""
    for attempt in (candidate, _TRAILING_COMMA.sub(r"\1", candidate)):
        try:
            value = json.loads(attempt)
        except json.JSONDecodeError:
            try:
                value = ast.literal_eval(attempt)
            except (ValueError, SyntaxError, MemoryError, RecursionError):
                continue
        return _as_object(value)
    return None


def _as_object(value: Any) -> dict[str, Any] | None:
    """A JSON object, or a list of `{"dimension": ..., "score": ...}` entries keyed by dimension."""
    if isinstance(value, dict):
        return value
    if not isinstance(value, list) or not value or not all(isinstance(item, dict) for item in value):
        return None
    keyed: dict[str, Any] = {}
    for item in value:
        entry = {str(k).strip().lower(): v for k, v in item.items()}
        name = entry.pop("dimension", entry.pop("name", entry.pop("criterion", None)))
        if not isinstance(name, str):
            return None
        keyed[name] = entry
    return keyed


def _find_json_object(text: str) -> dict[str, Any] | None:
    """The object of a reply: the last fenced block, the whole text, the last top-level `{...}`,
    or the span from the first `{` to the last `}` read as a Python dict."""
    for block in reversed(_FENCE.findall(text)):
        obj = _loads_object(block.strip())
        if obj is not None:
            return obj
    if "{" not in text:
        return None  # neither an object nor a list of them
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
    if found is None and text.lstrip().startswith("["):
        found = _loads_object(text.strip())
    if found is None and text.rfind("}") > text.find("{"):
        found = _loads_object(text[text.find("{") : text.rfind("}") + 1])
    return found
