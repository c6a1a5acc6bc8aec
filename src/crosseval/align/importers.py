"""Importers for culturally grounded SFT sources: the upstream CROSS SFT files and local CVQA-format files.

Upstream (haoyiq114/CROSS `data/cvqa_sft/*.jsonl`, `data/safety_sft/*.jsonl`) stores OpenAI chat lines:
CVQA lines are a question-with-options user turn, an image_url user turn and a `(k)` assistant turn
(no country metadata: the file itself is the overlapped or exclusive split); safety lines are a
text-only user scene and a long assistant answer. A local CVQA-format file carries the country, so it
can be split here: *overlapped* = the 16 CROSS countries, *exclusive* = every other country.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crosseval.align.errors import AlignError
from crosseval.align.records_io import iter_records, optional_text, required_text

Split = Literal["overlapped", "exclusive"]
UpstreamKind = Literal["cvqa", "safety"]

CROSS_COUNTRIES: frozenset[str] = frozenset(
    {
        "Japan",
        "Argentina",
        "France",
        "Mexico",
        "Brazil",
        "Nigeria",
        "India",
        "Ethiopia",
        "Morocco",
        "Egypt",
        "Iran",
        "Indonesia",
        "Saudi Arabia",
        "China",
        "Russia",
        "Thailand",
    }
)
"""The countries of the CROSS benchmark (display names)."""

_COUNTRY_ALIASES = {"ksa": "saudi arabia", "russian federation": "russia", "persia": "iran", "prc": "china"}
_CROSS_KEYS = {country.casefold(): country for country in CROSS_COUNTRIES}


def normalize_country(raw: str) -> str:
    """A country name in display form: underscores to spaces, collapsed whitespace, CROSS spelling if known."""
    text = " ".join(raw.replace("_", " ").split())
    key = _COUNTRY_ALIASES.get(text.casefold(), text.casefold())
    return _CROSS_KEYS.get(key, text)


def split_of(country: str) -> Split:
    return "overlapped" if normalize_country(country) in CROSS_COUNTRIES else "exclusive"


@dataclass(frozen=True)
class McqItem:
    """A visual multiple-choice question: the CVQA shape used for cultural knowledge SFT."""

    question: str
    options: tuple[str, ...]
    answer: int
    image: str
    """A local path or a URL."""
    country: str | None
    source: str
    line: int

    @property
    def prompt(self) -> str:
        return format_mcq_prompt(self.question, self.options)

    @property
    def target(self) -> str:
        return f"({self.answer})"


@dataclass(frozen=True)
class SafetyPair:
    """A text-only safety SFT conversation: a first-person scene and the culturally grounded answer."""

    prompt: str
    answer: str
    source: str
    line: int


def format_mcq_prompt(question: str, options: tuple[str, ...]) -> str:
    """The upstream prompt wording: options as `(k) text`, separated by two spaces."""
    listed = "  ".join(f"({k}) {option}" for k, option in enumerate(options))
    return f"Question: {question}\nOptions: {listed}\nAnswer:"


_MCQ_PROMPT = re.compile(r"\AQuestion: (?P<question>.*)\nOptions: (?P<options>.*)\nAnswer:\Z", re.DOTALL)
_OPTION = re.compile(r"\((\d+)\) (.*?)(?=  \(\d+\) |\Z)", re.DOTALL)
_TARGET = re.compile(r"\A\s*\((\d+)\)\s*\Z")


def parse_mcq_prompt(text: str) -> tuple[str, tuple[str, ...]] | None:
    """The question and options of an upstream CVQA prompt, or None when it is not that shape."""
    match = _MCQ_PROMPT.match(text)
    if match is None:
        return None
    found = _OPTION.findall(match["options"])
    if not found or [int(k) for k, _ in found] != list(range(len(found))):
        return None
    return match["question"], tuple(option for _, option in found)


def _messages(path: Path, line: int, record: dict[str, Any]) -> list[dict[str, Any]]:
    messages = record.get("messages")
    if not isinstance(messages, list) or not all(isinstance(m, dict) for m in messages):
        raise AlignError(f"{path}: line {line}: missing field 'messages' (a list of chat messages)")
    return messages


def detect_upstream_kind(path: Path) -> UpstreamKind:
    """`cvqa` when the first line carries an image_url turn, else `safety`."""
    for line, record in iter_records(path):
        for message in _messages(path, line, record):
            content = message.get("content")
            if isinstance(content, list) and any(
                isinstance(p, dict) and p.get("type") == "image_url" for p in content
            ):
                return "cvqa"
        return "safety"
    raise AlignError(f"{path}: the file holds no records")


def read_upstream_cvqa(path: Path) -> list[McqItem]:
    """Every line of an upstream `cvqa_sft*.jsonl` file, validated (country is unknown upstream)."""
    items: list[McqItem] = []
    for line, record in iter_records(path):
        messages = _messages(path, line, record)
        texts = [m for m in messages if m.get("role") == "user" and isinstance(m.get("content"), str)]
        image_urls = [
            part["image_url"]["url"]
            for m in messages
            if m.get("role") == "user" and isinstance(m.get("content"), list)
            for part in m["content"]
            if isinstance(part, dict)
            and part.get("type") == "image_url"
            and isinstance(part.get("image_url"), dict)
        ]
        answers = [m.get("content") for m in messages if m.get("role") == "assistant"]
        if len(texts) != 1:
            raise AlignError(
                f"{path}: line {line}: field 'messages': expected one text user turn, got {len(texts)}"
            )
        if len(image_urls) != 1 or not isinstance(image_urls[0], str):
            raise AlignError(f"{path}: line {line}: field 'messages': expected one image_url part")
        parsed = parse_mcq_prompt(texts[0]["content"])
        if parsed is None:
            raise AlignError(
                f"{path}: line {line}: field 'messages[0].content': not a 'Question: ...\\nOptions: (0) ...\\nAnswer:' prompt"
            )
        if len(answers) != 1 or not isinstance(answers[0], str) or _TARGET.match(answers[0]) is None:
            raise AlignError(f"{path}: line {line}: field 'messages': expected one assistant turn '(k)'")
        answer = int(_TARGET.match(answers[0])[1])  # type: ignore[index]
        question, options = parsed
        if answer >= len(options):
            raise AlignError(
                f"{path}: line {line}: answer ({answer}) is not one of the {len(options)} options"
            )
        items.append(McqItem(question, options, answer, image_urls[0], None, str(path), line))
    return items


def read_upstream_safety(path: Path) -> list[SafetyPair]:
    """Every line of an upstream `safety_sft*.jsonl` file: one user scene and one assistant answer."""
    pairs: list[SafetyPair] = []
    for line, record in iter_records(path):
        messages = _messages(path, line, record)
        users = [m.get("content") for m in messages if m.get("role") == "user"]
        assistants = [m.get("content") for m in messages if m.get("role") == "assistant"]
        if len(users) != 1 or not isinstance(users[0], str) or not users[0].strip():
            raise AlignError(f"{path}: line {line}: field 'messages': expected one text user turn")
        if len(assistants) != 1 or not isinstance(assistants[0], str) or not assistants[0].strip():
            raise AlignError(f"{path}: line {line}: field 'messages': expected one text assistant turn")
        pairs.append(SafetyPair(users[0], assistants[0], str(path), line))
    return pairs


def upstream_split(path: Path) -> Split:
    """Upstream CVQA files are split by file: `*_exclusive.jsonl` holds the non-CROSS countries."""
    return "exclusive" if "exclusive" in path.name.lower() else "overlapped"


_IMAGE_FIELDS = ("image", "image_path", "image_url")


def read_cvqa_file(path: Path) -> list[McqItem]:
    """A local CVQA-format file (JSONL or a JSON array): question, options, answer, image, country.

    `answer` is the 0-based option index (an int or a digit string) or the exact option text. `image`
    (or `image_path` / `image_url`) is a path relative to the file's folder, an absolute path, or a URL.
    """
    items: list[McqItem] = []
    for line, record in iter_records(path):
        question = required_text(path, line, record, "question")
        country = required_text(path, line, record, "country")
        options_raw = record.get("options")
        if options_raw is None:
            raise AlignError(f"{path}: line {line}: missing field 'options'")
        if (
            not isinstance(options_raw, list)
            or len(options_raw) < 2
            or not all(isinstance(o, str) and o.strip() for o in options_raw)
        ):
            raise AlignError(
                f"{path}: line {line}: field 'options' must be a list of at least two non-empty strings"
            )
        options = tuple(options_raw)
        answer = _answer_index(path, line, record.get("answer"), options)
        image = next(
            (v for f in _IMAGE_FIELDS if (v := optional_text(path, line, record, f)) is not None), None
        )
        if image is None:
            raise AlignError(f"{path}: line {line}: missing field 'image' (a path or URL)")
        if not image.startswith(("http://", "https://")) and not Path(image).is_absolute():
            image = str(path.parent / image)
        items.append(McqItem(question, options, answer, image, normalize_country(country), str(path), line))
    return items


def _answer_index(path: Path, line: int, value: Any, options: tuple[str, ...]) -> int:
    if value is None:
        raise AlignError(f"{path}: line {line}: missing field 'answer'")
    if isinstance(value, bool):
        raise AlignError(f"{path}: line {line}: field 'answer' must be an option index or option text")
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int):
        if not 0 <= value < len(options):
            raise AlignError(
                f"{path}: line {line}: field 'answer' ({value}) is not an index of the {len(options)} options"
            )
        return value
    if isinstance(value, str) and value in options:
        return options.index(value)
    raise AlignError(
        f"{path}: line {line}: field 'answer' ({value!r}) is neither an option index nor an option text"
    )
