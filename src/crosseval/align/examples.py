"""Training examples as stored in a dataset folder's `train.jsonl`.

Messages use the structured chat format that TRL and transformers chat templates read: each content
part is `{"type": "text", "text": ...}` or an image placeholder `{"type": "image"}`. The example's
`images` list holds, in order, one reference per placeholder: a path relative to the dataset folder
(`images/<sha256>.<ext>`) or, for an image that was never fetched, its URL.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

ExampleKind = Literal["sft", "dpo"]


class TextPart(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["text"] = "text"
    text: str


class ImagePart(BaseModel):
    model_config = ConfigDict(frozen=True)

    type: Literal["image"] = "image"


ContentPart = Annotated[TextPart | ImagePart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(frozen=True)

    role: Literal["system", "user", "assistant"]
    content: list[ContentPart]

    @property
    def text(self) -> str:
        """The text parts joined by newlines (image placeholders dropped)."""
        return "\n".join(part.text for part in self.content if isinstance(part, TextPart))

    @property
    def image_count(self) -> int:
        return sum(1 for part in self.content if isinstance(part, ImagePart))


def user_message(text: str, images: int = 0) -> ChatMessage:
    """A user turn with `images` placeholders placed before the text (the order CROSS uses)."""
    parts: list[ContentPart] = [ImagePart() for _ in range(images)]
    parts.append(TextPart(text=text))
    return ChatMessage(role="user", content=parts)


def assistant_message(text: str) -> ChatMessage:
    return ChatMessage(role="assistant", content=[TextPart(text=text)])


def is_remote(image: str) -> bool:
    """Whether an image reference is a URL rather than a file inside the dataset folder."""
    return image.startswith(("http://", "https://"))


class SftExample(BaseModel):
    """One supervised example: a conversation whose assistant turns are the targets."""

    model_config = ConfigDict(frozen=True)

    id: str
    messages: list[ChatMessage]
    images: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


class DpoExample(BaseModel):
    """One preference pair: the same prompt, a judged-safe `chosen` and a judged-unsafe `rejected` answer."""

    model_config = ConfigDict(frozen=True)

    id: str
    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]
    images: list[str] = Field(default_factory=list)
    meta: dict[str, Any] = Field(default_factory=dict)


Example = SftExample | DpoExample
