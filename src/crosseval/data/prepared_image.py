"""An image ready to send to a model: the exact bytes, their MIME type and their sha256."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PreparedImage:
    data: bytes
    mime: str
    sha256: str
    """sha256 (hex) of `data`, the bytes that are sent; cache keys use it."""
    width: int
    height: int
