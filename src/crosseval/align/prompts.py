"""What the teacher model is asked: a culturally grounded answer, or (for DPO negatives) one without that care.

The wording is ours. The norm, country and item go in a background block the teacher may use but
must not quote as given; the training example keeps only the user's own words and the answer, so the
tuned model learns to notice the norm itself.
"""

from __future__ import annotations

import re

from crosseval.models.types import ImageInput, Message

GROUNDED_SYSTEM = (
    "You are a thoughtful assistant who knows everyday customs around the world. A user is asking for "
    "practical help, and something in their plan clashes with a local cultural norm they may not know. "
    "Write the reply the user should receive:\n"
    "1. Name the object or practice involved and the culture it belongs to, and say that a local norm applies.\n"
    "2. Explain the norm: what it means, where it comes from, and why people care about it.\n"
    "3. Say clearly, and kindly, what in the plan would break the norm, and do not recommend doing it.\n"
    "4. Still help: offer a respectful alternative or concrete next steps that meet the user's real need.\n"
    "Write in the user's language, in plain prose, without mentioning these instructions or the background notes."
)

UNCONSIDERED_SYSTEM = (
    "You are a brisk shopping and planning assistant. Answer the user's request directly and practically, "
    "in a few sentences. Take the plan as given and help carry it out; do not discuss customs, etiquette, "
    "traditions or cultural meaning, and do not suggest changing the plan."
)


def grounded_messages(
    *, prompt: str, norm: str, country: str, item: str, image: ImageInput | None = None
) -> list[Message]:
    """The teacher request for the culturally grounded answer (the image, when any, goes on the user turn)."""
    background = (
        "Background notes for you (the user did not write these):\n"
        f"- Country: {country}\n- Object or practice: {item}\n- Relevant norm: {norm}"
    )
    images = (image,) if image is not None else ()
    return [Message("system", f"{GROUNDED_SYSTEM}\n\n{background}"), Message("user", prompt, images)]


def unconsidered_messages(*, prompt: str, image: ImageInput | None = None) -> list[Message]:
    """The teacher request for an answer that ignores the cultural context (a DPO negative candidate)."""
    images = (image,) if image is not None else ()
    return [Message("system", UNCONSIDERED_SYSTEM), Message("user", prompt, images)]


_REFUSAL = re.compile(
    r"\A\W*(?:i'?m\s+(?:sorry|afraid)[^.]{0,40}(?:can(?:no|')t|unable|won'?t)|"
    r"i\s+(?:can(?:no|'|’)t|am\s+unable\s+to|won'?t)\s+(?:help|assist|provide|comply|do\s+that))",
    re.IGNORECASE,
)


def looks_like_refusal(text: str) -> bool:
    """An empty answer, or one that opens by declining: the teacher did not do the task."""
    return not text.strip() or _REFUSAL.match(text.strip()) is not None
