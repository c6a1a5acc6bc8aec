"""Capability retention: exact-match accuracy on a user's general VQA file, for the base model and the tuned one.

The file (JSONL, JSON array or CSV) holds `image` (a path relative to the file), `question` and
`answer` (a string, or a list of accepted strings). An answer counts when, after normalisation
(case, punctuation, articles, whitespace), it equals one of the accepted answers. A failed request is
an error, reported apart and left out of the denominator: it is never scored.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path

from crosseval.align.errors import AlignError
from crosseval.align.images import prepare_image_file
from crosseval.align.records_io import iter_records, required_text
from crosseval.data.images import ImageOptions
from crosseval.data.prepared_image import PreparedImage
from crosseval.engine.retry import RequestFailed, RetryPolicy
from crosseval.engine.scheduler import Job, JobContext, run_jobs
from crosseval.models.types import GenerationParams, GenerationRequest, Message, ModelBackend

VQA_INSTRUCTION = "Answer the question with a single word or short phrase."
_ARTICLES = re.compile(r"\b(?:a|an|the)\b")
_PUNCTUATION = re.compile(r"[^\w\s]|_")


@dataclass(frozen=True)
class VqaItem:
    id: str
    image: Path
    question: str
    answers: tuple[str, ...]


@dataclass
class VqaResult:
    correct: int = 0
    scored: int = 0
    errors: int = 0
    predictions: dict[str, str] = field(default_factory=dict)
    error_messages: dict[str, str] = field(default_factory=dict)

    @property
    def accuracy(self) -> float | None:
        return self.correct / self.scored if self.scored else None


def normalize_answer(text: str) -> str:
    text = unicodedata.normalize("NFKC", text).casefold().strip()
    text = _PUNCTUATION.sub(" ", text)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answers: tuple[str, ...]) -> bool:
    normalized = normalize_answer(prediction)
    return any(normalized == normalize_answer(answer) for answer in answers)


def read_vqa_file(path: Path) -> list[VqaItem]:
    items: list[VqaItem] = []
    for line, record in iter_records(path):
        image_text = required_text(path, line, record, "image")
        question = required_text(path, line, record, "question")
        raw = record.get("answer")
        if isinstance(raw, str) and raw.strip():
            answers: tuple[str, ...] = (raw,)
        elif isinstance(raw, list) and raw and all(isinstance(a, str) and a.strip() for a in raw):
            answers = tuple(raw)
        else:
            raise AlignError(
                f"{path}: line {line}: field 'answer' must be a non-empty string or list of strings"
            )
        image = Path(image_text) if Path(image_text).is_absolute() else path.parent / image_text
        if not image.is_file():
            raise AlignError(f"{path}: line {line}: field 'image': no such file {image}")
        items.append(VqaItem(str(record.get("id") or line), image, question, answers))
    if not items:
        raise AlignError(f"{path}: the VQA file holds no records")
    return items


async def vqa_accuracy(
    backend: ModelBackend,
    items: list[VqaItem],
    *,
    policy: RetryPolicy | None = None,
    max_connections: int = 8,
    max_tokens: int = 32,
    show_progress: bool = False,
    image_options: ImageOptions | None = None,
) -> VqaResult:
    """Asks every question (greedy, short answers) and scores exact matches.

    Images are prepared as `crosseval generate` prepares them (`image_options`, its defaults when None),
    so the base and the tuned model are measured on the bytes they would be evaluated with.
    """
    result = VqaResult()
    images: dict[Path, PreparedImage] = {}
    for item in items:  # before any request: an unusable image is the file's fault, named up front
        if item.image not in images:
            images[item.image] = prepare_image_file(item.image, image_options)
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens)

    def make(item: VqaItem) -> Job:
        async def job(ctx: JobContext) -> str:
            message = Message("user", f"{item.question}\n{VQA_INSTRUCTION}", (images[item.image],))
            try:
                answer, _ = await ctx.call(backend, GenerationRequest((message,), params))
            except RequestFailed as failure:
                result.errors += 1
                result.error_messages[item.id] = str(failure)
                return "error"
            result.predictions[item.id] = answer.text
            result.scored += 1
            result.correct += exact_match(answer.text, item.answers)
            return "ok"

        return job

    await run_jobs(
        [make(item) for item in items],
        max_connections=max_connections,
        policy=policy or RetryPolicy(),
        label="VQA check",
        show_progress=show_progress,
    )
    return result
