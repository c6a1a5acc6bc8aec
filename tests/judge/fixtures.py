"""Shared pieces for judge tests: the shared CROSS sample with images made here, and a judge script.

The loopback server plays the judge: `JudgeScript` reads each request to learn which dimension (or,
in the `single` protocol, all four) it asks about and whether it is a follow-up, and answers from a
table the test writes.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from crosseval.data.loaders import load_benchmark
from crosseval.data.records import Sample
from crosseval.engine.store import DIMENSIONS, Dimension
from crosseval.judge.rubrics import DIMENSION_TITLES
from tests.helpers.openai_server import Reply

JUDGE_MODEL = "test-judge"
MODEL = "test-model"


def make_image(path: Path, seed: int) -> None:
    """A small image in the format its name says (PNG or JPEG), different for each seed."""
    path.parent.mkdir(parents=True, exist_ok=True)
    colour = ((seed * 37) % 256, (seed * 91) % 256, (seed * 53) % 256)
    image = Image.new("RGB", (24, 16), colour)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
    path.write_bytes(buffer.getvalue())


def cross_folder_with_images(cross_sample: Path, target: Path) -> Path:
    """A folder with the upstream layout: the shared sample's four benchmark files and an image for each."""
    for subset in ("casa", "safeworld"):
        (target / subset).mkdir(parents=True, exist_ok=True)
        for setting in ("english", "multilingual"):
            shutil.copy(cross_sample / subset / f"{setting}.json", target / subset / f"{setting}.json")
    names = sorted({(s.subset, s.image.name) for s in load_benchmark([target]).samples})
    for seed, (subset, name) in enumerate(names):
        make_image(target / "images" / subset / name, seed)
    return target


def load_samples(folder: Path) -> list[Sample]:
    return load_benchmark([folder]).samples


def message_text(message: dict[str, Any]) -> str:
    content = message.get("content")
    if isinstance(content, str):
        return content
    return "\n".join(part.get("text", "") for part in content or [] if part.get("type") == "text")


def first_user_text(body: dict[str, Any]) -> str:
    return next(message_text(m) for m in body["messages"] if m["role"] == "user")


def asked_dimension(body: dict[str, Any]) -> Dimension | None:
    """The dimension a `paper` request asks about (None for a `single` request, which asks all four)."""
    text = first_user_text(body)
    asked = [d for d in DIMENSIONS if f"\n{DIMENSION_TITLES[d]}: " in text]
    return asked[0] if len(asked) == 1 else None


def is_judge(body: dict[str, Any]) -> bool:
    return body.get("model") == JUDGE_MODEL


def is_followup(body: dict[str, Any]) -> bool:
    return any(m["role"] == "assistant" for m in body["messages"])


@dataclass
class JudgeScript:
    """Answers judge requests from `replies[dimension]` (first turn) and `followups[dimension]` (re-asks).

    Model requests (any other model name) get `model_reply(body)`.
    """

    replies: dict[Dimension, str] = field(
        default_factory=lambda: dict.fromkeys(DIMENSIONS, "Reasoning.\nScore: 1")
    )
    followups: dict[Dimension, str] = field(default_factory=dict)
    single_reply: str | None = None
    model_reply: Callable[[dict[str, Any]], Reply] = lambda body: Reply(text="A model answer.")
    status_for: Callable[[dict[str, Any]], int] = lambda body: 200

    def __call__(self, body: dict[str, Any], n: int) -> Reply:
        if not is_judge(body):
            return self.model_reply(body)
        status = self.status_for(body)
        if status != 200:
            return Reply(text="scripted failure", status=status)
        dimension = asked_dimension(body)
        if dimension is None:
            assert self.single_reply is not None, "a single-protocol request reached a paper-only script"
            return Reply(text=self.single_reply)
        if is_followup(body):
            return Reply(text=self.followups.get(dimension, "still no verdict"))
        return Reply(text=self.replies[dimension])
