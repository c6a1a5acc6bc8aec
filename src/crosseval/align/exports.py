"""Exports of a dataset folder: TRL datasets and OpenAI fine-tuning JSONL.

TRL (1.x): SFT rows are `{"messages", "images"}`, DPO rows `{"prompt", "chosen", "rejected", "images"}`,
with structured content parts and the images as PIL images (text-only datasets have no `images`
column). The export is a `datasets` folder (`save_to_disk`, images embedded) that `load_from_disk`
reads back. OpenAI: SFT lines are chat `messages` whose user turns carry `image_url` parts (a data URL
for a local image, the URL for a remote one); DPO lines are `input` / `preferred_output` /
`non_preferred_output`, text only (the preference API takes no images, so they are dropped and counted).
"""

from __future__ import annotations

import base64
import json
import mimetypes
import os
import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from crosseval.align.dataset import read_examples
from crosseval.align.errors import AlignError
from crosseval.align.examples import ChatMessage, DpoExample, Example, ImagePart, SftExample, is_remote

ExportFormat = Literal["trl", "openai"]


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    rows: int
    images_dropped: int = 0


def _structured(messages: list[ChatMessage]) -> list[dict[str, Any]]:
    return [
        {
            "role": m.role,
            "content": [
                {"type": "image"} if isinstance(p, ImagePart) else {"type": "text", "text": p.text}
                for p in m.content
            ],
        }
        for m in messages
    ]


def trl_rows(folder: Path, examples: list[Example]) -> list[dict[str, Any]]:
    """TRL rows with image paths (absolute) in `images`; `load_trl_dataset` opens them."""
    remote = [e.id for e in examples if any(is_remote(i) for i in e.images)]
    if remote:
        raise AlignError(
            f"{folder}: {len(remote)} examples reference images by URL (first: {remote[0]}); TRL training needs "
            "local files: rebuild the dataset with --images-root pointing at the downloaded images"
        )
    with_images = any(e.images for e in examples)
    rows: list[dict[str, Any]] = []
    for example in examples:
        if isinstance(example, SftExample):
            row: dict[str, Any] = {"messages": _structured(example.messages)}
        else:
            row = {
                "prompt": _structured(example.prompt),
                "chosen": _structured(example.chosen),
                "rejected": _structured(example.rejected),
            }
        if with_images:
            row["images"] = [str((folder / i).resolve()) for i in example.images]
        rows.append(row)
    return rows


def load_trl_dataset(folder: Path) -> Any:
    """A `datasets.Dataset` in TRL's shape, images decoded to PIL. Needs the `datasets` package."""
    from datasets import Dataset, Features, Image, List

    _, examples = read_examples(folder)
    if not examples:
        raise AlignError(f"{folder}: the dataset is empty")
    rows = trl_rows(Path(folder), examples)
    dataset = Dataset.from_list(rows)
    if "images" in dataset.column_names:
        features = Features({**dataset.features, "images": List(Image())})
        dataset = dataset.cast(features)
    return dataset


def export_trl(folder: Path, out: Path) -> ExportSummary:
    """Writes the dataset with `save_to_disk` (images embedded) into `out`, atomically."""
    dataset = load_trl_dataset(folder)
    if out.exists():
        raise AlignError(f"{out}: already exists")
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    try:
        dataset.save_to_disk(str(tmp))
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return ExportSummary(out, len(dataset))


def _data_url(path: Path) -> str:
    mime = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"data:{mime};base64,{base64.b64encode(path.read_bytes()).decode('ascii')}"


def _openai_user_content(folder: Path, message: ChatMessage, images: list[str]) -> str | list[dict[str, Any]]:
    if message.image_count == 0:
        return message.text
    parts: list[dict[str, Any]] = []
    for part in message.content:
        if isinstance(part, ImagePart):
            ref = images.pop(0)
            url = ref if is_remote(ref) else _data_url(folder / ref)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append({"type": "text", "text": part.text})
    return parts


def openai_sft_line(folder: Path, example: SftExample) -> dict[str, Any]:
    images = list(example.images)
    messages: list[dict[str, Any]] = []
    for message in example.messages:
        if message.role == "user":
            messages.append({"role": "user", "content": _openai_user_content(folder, message, images)})
        else:
            messages.append({"role": message.role, "content": message.text})
    return {"messages": messages}


def openai_dpo_line(example: DpoExample) -> dict[str, Any]:
    return {
        "input": {"messages": [{"role": m.role, "content": m.text} for m in example.prompt]},
        "preferred_output": [{"role": "assistant", "content": m.text} for m in example.chosen],
        "non_preferred_output": [{"role": "assistant", "content": m.text} for m in example.rejected],
    }


def export_openai(folder: Path, out: Path) -> ExportSummary:
    """Writes OpenAI fine-tuning JSONL (`out` is the file), atomically."""
    _, examples = read_examples(folder)
    if not examples:
        raise AlignError(f"{folder}: the dataset is empty")
    dropped = 0
    lines: list[str] = []
    for example in examples:
        if isinstance(example, SftExample):
            line = openai_sft_line(Path(folder), example)
        else:
            dropped += len(example.images)
            line = openai_dpo_line(example)
        lines.append(json.dumps(line, ensure_ascii=False))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(tmp, out)
    return ExportSummary(out, len(lines), dropped)


def export(folder: Path, fmt: ExportFormat, out: Path | None = None) -> ExportSummary:
    """Export `folder` in `fmt`; the default target is `<folder>/export-trl/` or `<folder>/openai.jsonl`."""
    if fmt == "trl":
        return export_trl(folder, out or Path(folder) / "export-trl")
    return export_openai(folder, out or Path(folder) / "openai.jsonl")
