"""Test-made images for the real-schema samples in ../shared/cross-sample, in an images root layout."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path

from PIL import Image

from crosseval.data.records import Sample


def write_sample_images(samples: Iterable[Sample], root: Path, size: tuple[int, int] = (64, 48)) -> Path:
    """Write a small image at `<root>/<subset>/<name>` for every sample (PNG or JPEG by the name's suffix)."""
    for sample in samples:
        path = root / sample.subset / sample.image.name
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        shade = hashlib.sha256(sample.image.name.encode()).digest()
        image = Image.new("RGB", size, (shade[0], shade[1], shade[2]))
        image.save(path, format="PNG" if path.suffix.lower() == ".png" else "JPEG")
    return root
