from __future__ import annotations

from dataclasses import replace

from crosseval.data.prepared_image import PreparedImage
from crosseval.engine.keys import request_key
from crosseval.models.types import GenerationParams, GenerationRequest, Message

IMAGE = PreparedImage(data=b"\x89PNG...", mime="image/png", sha256="a" * 64, width=10, height=20)
IDENTITY = {"provider": "openai", "model": "gpt-4o-mini"}


def make(
    text: str = "Where can I buy this?", image: PreparedImage = IMAGE, **params: object
) -> GenerationRequest:
    return GenerationRequest(
        messages=(Message(role="user", text=text, images=(image,)),),
        params=GenerationParams(**params),  # type: ignore[arg-type]
    )


def test_key_is_stable_and_hex() -> None:
    key = request_key(IDENTITY, make(), round=1)
    assert key == request_key(dict(reversed(list(IDENTITY.items()))), make(), round=1)
    assert len(key) == 64
    int(key, 16)


def test_everything_that_changes_the_output_changes_the_key() -> None:
    base = request_key(IDENTITY, make(), round=1)
    variants = [
        request_key({**IDENTITY, "model": "gpt-4o"}, make(), round=1),
        request_key(IDENTITY, make(), round=2),
        request_key(IDENTITY, make(text="Where can I buy this? "), round=1),
        request_key(IDENTITY, make(temperature=0.0), round=1),
        request_key(IDENTITY, make(max_tokens=100), round=1),
        request_key(IDENTITY, make(reasoning_effort="low"), round=1),
        request_key(IDENTITY, make(image=replace(IMAGE, sha256="b" * 64)), round=1),
        request_key(IDENTITY, make(), round=1, extra={"image_options": {"max_side": 512}}),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_image_enters_by_hash_not_bytes() -> None:
    same_hash_other_bytes = replace(IMAGE, data=b"")
    assert request_key(IDENTITY, make(image=same_hash_other_bytes), round=1) == request_key(
        IDENTITY, make(), round=1
    )


def test_parameters_left_to_the_model_default_do_not_enter_the_key() -> None:
    explicit_none = GenerationRequest(messages=make().messages, params=GenerationParams(temperature=None))
    assert request_key(IDENTITY, explicit_none, round=1) == request_key(IDENTITY, make(), round=1)
