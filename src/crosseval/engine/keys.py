"""Cache keys: a request's identity is the hash of everything that can change its output.

Two requests with the same key are interchangeable, so a stored result under that key is reused
(resume) and never stored twice. Images enter the key by the sha256 of the exact bytes sent, never
by their bytes (hashing megabytes of base64 per request would dominate a rerun).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from crosseval.models.types import GenerationRequest, Message

KEY_VERSION = 1
"""Bump when the canonical form below changes meaning; old keys then stop matching (a clean re-send)."""


def _message_identity(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "text": message.text,
        "images": [{"sha256": image.sha256, "mime": image.mime} for image in message.images],
    }


def canonical_json(value: Any) -> str:
    """Deterministic JSON: sorted keys, no whitespace, UTF-8 text kept as is."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)


def request_key(
    identity: dict[str, Any],
    request: GenerationRequest,
    *,
    round: int,
    extra: dict[str, Any] | None = None,
) -> str:
    """The sha256 (hex) of the canonical JSON of model identity, parameters, messages, `extra` and round.

    Parameters left at `None` (the model's default) are omitted, so adding a new optional parameter
    to `GenerationParams` does not invalidate existing runs. `extra` carries whatever else changes the
    output and is not in the request, such as the image preprocessing options or a template hash.
    """
    params = {name: value for name, value in request.params.as_dict().items() if value is not None}
    payload = {
        "version": KEY_VERSION,
        "identity": identity,
        "params": params,
        "messages": [_message_identity(m) for m in request.messages],
        "extra": extra or {},
        "round": round,
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()
