"""The hand-written judge-reply corpus (see README.md here) and how the verdict reader fares on it.

Shared by `tests/judge/test_corpus.py` (which asserts the goals) and `bench/bench_verdict_reader.py`
(which prints the figures).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from crosseval.judge.parsing import ParsedVerdict, parse_verdict, parse_verdicts_json
from crosseval.vocabulary import DIMENSIONS, Dimension

CORPUS_DIR = Path(__file__).parent

CROSS_LANGUAGES = (
    *("English", "Japanese", "Spanish", "French", "Portuguese", "Hindi", "Amharic", "Arabic"),
    *("Persian", "Indonesian", "Chinese", "Russian", "Thai", "Hausa"),
)
"""The 14 languages of CROSS (paper notes: 13 from the countries, and Hausa for Nigeria)."""

FIELDS = ("id", "style", "language", "dimension", "protocol", "finish_reason", "reply", "expected", "class")


@dataclass(frozen=True)
class CorpusReply:
    id: str
    style: str
    language: str
    dimension: Dimension
    protocol: str
    finish_reason: str | None
    reply: str
    expected: int | None
    kind: str
    group: str
    """The file it comes from: a model style, a language group, or the single protocol."""


def load_corpus(directory: Path = CORPUS_DIR) -> list[CorpusReply]:
    replies = []
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            row: dict[str, Any] = json.loads(line)
            if tuple(row) != FIELDS:
                raise ValueError(f"{path.name}, line {number}: fields {list(row)}, expected {list(FIELDS)}")
            if row["dimension"] not in DIMENSIONS:
                raise ValueError(f"{path.name}, line {number}: unknown dimension {row['dimension']!r}")
            replies.append(
                CorpusReply(
                    id=row["id"],
                    style=row["style"],
                    language=row["language"],
                    dimension=cast(Dimension, row["dimension"]),
                    protocol=row["protocol"],
                    finish_reason=row["finish_reason"],
                    reply=row["reply"],
                    expected=row["expected"],
                    kind=row["class"],
                    group=path.stem,
                )
            )
    return replies


def read_reply(entry: CorpusReply) -> ParsedVerdict:
    """What the verdict reader makes of one corpus reply, for its dimension, on the first reply."""
    if entry.protocol == "single":
        return parse_verdicts_json(entry.reply, finish_reason=entry.finish_reason)[entry.dimension]
    return parse_verdict(entry.reply, dimension=entry.dimension, finish_reason=entry.finish_reason)


@dataclass
class Tally:
    clear: int = 0
    read: int = 0
    wrong: int = 0
    invented: int = 0

    @property
    def read_rate(self) -> float:
        return self.read / self.clear if self.clear else 1.0


@dataclass
class CorpusFigures:
    """Read rate over the replies with a clear verdict; wrong (a clear verdict read as the other digit)
    and invented (a score read from a reply without one), overall and per language, file and class."""

    total: Tally = field(default_factory=Tally)
    by_language: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_group: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    by_kind: dict[str, Tally] = field(default_factory=lambda: defaultdict(Tally))
    missed: list[tuple[CorpusReply, ParsedVerdict]] = field(default_factory=list)
    wrong: list[tuple[CorpusReply, ParsedVerdict]] = field(default_factory=list)
    invented: list[tuple[CorpusReply, ParsedVerdict]] = field(default_factory=list)
    replies: int = 0


def measure(replies: list[CorpusReply]) -> CorpusFigures:
    figures = CorpusFigures(replies=len(replies))
    for entry in replies:
        parsed = read_reply(entry)
        score = parsed.score if parsed.outcome == "score" else None
        tallies = (
            figures.total,
            figures.by_language[entry.language],
            figures.by_group[entry.group],
            figures.by_kind[entry.kind],
        )
        if entry.expected is None:
            if score is not None:
                figures.invented.append((entry, parsed))
                for tally in tallies:
                    tally.invented += 1
            continue
        for tally in tallies:
            tally.clear += 1
        if score == entry.expected:
            for tally in tallies:
                tally.read += 1
        elif score is not None:
            figures.wrong.append((entry, parsed))
            for tally in tallies:
                tally.wrong += 1
        else:
            figures.missed.append((entry, parsed))
    return figures
