"""Images for backend tests: real PNG and JPEG bytes made with Pillow, as the data layer prepares them."""

from __future__ import annotations

import hashlib
import io

import pytest
from PIL import Image

from crosseval.data.prepared_image import PreparedImage


def make_image(
    fmt: str = "PNG", size: tuple[int, int] = (48, 32), color: tuple[int, int, int] = (200, 30, 30)
) -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format=fmt)
    data = buffer.getvalue()
    mime = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}[fmt]
    return PreparedImage(
        data=data, mime=mime, sha256=hashlib.sha256(data).hexdigest(), width=size[0], height=size[1]
    )


@pytest.fixture(autouse=True)
def _no_provider_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The root conftest clears the OpenAI and crosseval keys; these providers have their own."""
    for name in ("OPENROUTER_API_KEY", "GEMINI_API_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def png_image() -> PreparedImage:
    return make_image("PNG")


@pytest.fixture
def jpeg_image() -> PreparedImage:
    return make_image("JPEG", size=(40, 40), color=(10, 120, 200))
