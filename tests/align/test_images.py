"""Alignment images go out as the data layer prepares them, not as the raw bytes of the file."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import pytest
from PIL import Image

from crosseval.align.errors import AlignError
from crosseval.align.images import image_suffix, prepare_image_file
from crosseval.data.images import ImageOptions


def write_exif_rotated_jpeg(path: Path, size: tuple[int, int] = (60, 20)) -> Path:
    """A JPEG stored `size` wide but tagged to display rotated a quarter turn (EXIF orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.new("RGB", size, (0, 0, 255)).save(path, format="JPEG", exif=exif)
    return path


def test_an_exif_rotated_photo_is_sent_upright_with_the_hash_of_the_bytes_sent(tmp_path: Path) -> None:
    path = write_exif_rotated_jpeg(tmp_path / "scene.jpeg")
    prepared = prepare_image_file(path)
    assert prepared.data != path.read_bytes()
    assert (prepared.width, prepared.height) == (20, 60)
    assert Image.open(io.BytesIO(prepared.data)).size == (20, 60)
    assert prepared.mime == "image/jpeg" and image_suffix(prepared) == ".jpg"
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest()


def test_an_oversized_transparent_png_is_capped_flattened_and_stays_png(tmp_path: Path) -> None:
    path = tmp_path / "big.png"
    Image.new("RGBA", (400, 100), (0, 0, 0, 0)).save(path)
    prepared = prepare_image_file(path, ImageOptions(max_side=100))
    assert (prepared.width, prepared.height) == (100, 25)
    assert prepared.mime == "image/png" and image_suffix(prepared) == ".png"
    decoded = Image.open(io.BytesIO(prepared.data))
    assert decoded.mode == "RGB" and decoded.getpixel((0, 0)) == (255, 255, 255)


def test_a_file_that_is_no_image_or_too_large_is_named(tmp_path: Path) -> None:
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    with pytest.raises(AlignError, match=r"notes\.png: image not an image"):
        prepare_image_file(text)
    photo = write_exif_rotated_jpeg(tmp_path / "photo.jpg")
    with pytest.raises(AlignError, match=r"photo\.jpg: image over the size cap"):
        prepare_image_file(photo, ImageOptions(max_download_bytes=10))
