"""Images of alignment data as generation sends them: prepared by the data layer, never raw file bytes.

A norms-file scene image or a VQA-check image goes through `crosseval.data.images` (EXIF rotation,
RGB, longest side capped, re-encoded with the right MIME type, sha256 of the bytes sent), so the teacher,
the judge, the model under test and the trainer all see what `crosseval generate` would send.
"""

from __future__ import annotations

from pathlib import Path

from crosseval.align.errors import AlignError
from crosseval.data.images import MIME_SUFFIXES, ImageError, ImageOptions
from crosseval.data.images import prepare_image_file as _prepare_local_image
from crosseval.data.prepared_image import PreparedImage


def prepare_image_file(path: Path, options: ImageOptions | None = None) -> PreparedImage:
    """`path` prepared with `options` (the defaults of `crosseval generate` when None).

    Raises `AlignError` naming the file and what is wrong with it.
    """
    try:
        return _prepare_local_image(path, options or ImageOptions())
    except ImageError as exc:
        raise AlignError(f"{path}: image {exc.problem}") from exc


def image_suffix(image: PreparedImage) -> str:
    """The file suffix that matches a prepared image's MIME type (`.png`, `.jpg`)."""
    return MIME_SUFFIXES.get(image.mime, ".img")
