"""Turn a sample's image reference into the exact bytes sent to a model (`PreparedImage`).

An upstream URL maps to `<images_root>/<subset>/<name>` when a local root is given; otherwise the
image is downloaded once into the cache (timeout, size cap, content-type and magic-byte checks).
Then it is EXIF-rotated, converted to RGB (transparency over white), its longest side capped, and
re-encoded: PNG stays PNG, anything else becomes JPEG. A JPEG or PNG that needs none of these
changes is sent as it is, which avoids a lossy second JPEG encoding. The sha256 of the bytes sent goes
into cache keys. Each (file, options) pair is prepared once per process and kept in a bounded memo.
"""

from __future__ import annotations

import hashlib
import io
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import httpx
from PIL import Image, ImageOps, UnidentifiedImageError

from crosseval.data.cache import cache_dir as default_cache_dir
from crosseval.data.errors import DataError
from crosseval.data.files import file_problem, os_problem, read_file_bytes
from crosseval.data.prepared_image import PreparedImage
from crosseval.data.records import Sample
from crosseval.data.upstream import atomic_write

PREPARATION_VERSION = 1
"""Bump when the preparation steps change, so cache keys built from `identity()` change too."""

MEMO_MAX_BYTES = 512 * 1024 * 1024
ACCEPTED_CONTENT_TYPES = ("image/", "application/octet-stream", "binary/octet-stream")
_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
    (b"BM", "bmp"),
)
_EXIF_ORIENTATION = 0x0112


class ImageError(DataError):
    """An image that is missing, not an image, truncated, over the size cap, or outside its root."""


@dataclass(frozen=True)
class ImageOptions:
    """How images are fetched and prepared."""

    max_side: int = 1536
    jpeg_quality: int = 90
    max_download_bytes: int = 20 * 1024 * 1024
    timeout_s: float = 30.0

    def identity(self) -> dict[str, Any]:
        """The settings that change the prepared bytes: what goes into cache keys and manifests."""
        return {"max_side": self.max_side, "jpeg_quality": self.jpeg_quality, "version": PREPARATION_VERSION}


def sniff_image_format(data: bytes) -> str | None:
    """The image format named by the file's first bytes (`png`, `jpeg`, `gif`, `bmp`, `webp`), if any."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return next((fmt for magic, fmt in _MAGIC if data.startswith(magic)), None)


def _to_rgb(image: Image.Image) -> Image.Image:
    if image.mode == "RGB":
        return image
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image.convert("RGB")


def prepare_image_bytes(data: bytes, options: ImageOptions) -> PreparedImage:
    """Prepare encoded image bytes for sending. Raises `ValueError` with the reason when they are unusable."""
    if sniff_image_format(data) is None:
        raise ValueError("not an image (unknown file signature)")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its pixel cap and twice the cap, then decodes: refuse instead.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            opened = Image.open(io.BytesIO(data))
            opened.load()
        with opened:
            source_format = opened.format
            orientation = opened.getexif().get(_EXIF_ORIENTATION, 1)
            unchanged = (
                source_format in ("JPEG", "PNG")
                and opened.mode == "RGB"
                and orientation in (0, 1)
                and max(opened.size) <= options.max_side
            )
            if unchanged:
                mime = "image/png" if source_format == "PNG" else "image/jpeg"
                return PreparedImage(
                    data, mime, hashlib.sha256(data).hexdigest(), opened.width, opened.height
                )
            image = _to_rgb(ImageOps.exif_transpose(opened))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ValueError(f"over the pixel cap: {exc}") from exc
    except (UnidentifiedImageError, SyntaxError) as exc:
        raise ValueError(f"not a readable image: {exc}") from exc
    except OSError as exc:
        raise ValueError(f"broken or truncated image: {exc}") from exc
    if max(image.size) > options.max_side:
        image.thumbnail((options.max_side, options.max_side), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    if source_format == "PNG":
        image.save(out, format="PNG")
        mime = "image/png"
    else:
        image.save(out, format="JPEG", quality=options.jpeg_quality)
        mime = "image/jpeg"
    encoded = out.getvalue()
    return PreparedImage(encoded, mime, hashlib.sha256(encoded).hexdigest(), image.width, image.height)


def prepare_image_file(path: Path, options: ImageOptions) -> PreparedImage:
    """A local image file as a request carries it (see `prepare_image_bytes`), the file's size capped first.

    Raises `ImageError` naming the file and what is wrong (missing, a folder or a link loop, over the cap,
    unreadable, not an image).
    """
    try:
        return prepare_image_bytes(read_file_bytes(path, max_bytes=options.max_download_bytes), options)
    except DataError as exc:
        raise ImageError(str(path), exc.problem) from exc
    except ValueError as exc:
        raise ImageError(str(path), str(exc)) from exc


def check_image_file(path: Path, options: ImageOptions) -> str | None:
    """What is wrong with a local image file (missing, over the size cap, not an image, truncated), or None."""
    try:
        prepare_image_file(path, options)
    except ImageError as exc:
        return exc.problem
    return None


MIME_SUFFIXES: dict[str, str] = {"image/png": ".png", "image/jpeg": ".jpg"}
"""The file suffix of each MIME type `prepare_image_bytes` produces."""


def thumbnail_jpeg(image: PreparedImage, max_side: int = 256) -> bytes:
    """A small JPEG of a prepared image, for stores and reports."""
    with Image.open(io.BytesIO(image.data)) as opened:
        small = _to_rgb(opened)
        small.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        out = io.BytesIO()
        small.save(out, format="JPEG", quality=80)
    return out.getvalue()


class _PreparedMemo:
    """A process-wide, byte-bounded LRU of prepared images, with one lock per key so each is built once."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[tuple[Any, ...], PreparedImage] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[tuple[Any, ...], threading.Lock] = {}

    def key_lock(self, key: tuple[Any, ...]) -> threading.Lock:
        with self._lock:
            return self._key_locks.setdefault(key, threading.Lock())

    def get(self, key: tuple[Any, ...]) -> PreparedImage | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: tuple[Any, ...], image: PreparedImage) -> None:
        with self._lock:
            if key in self._items:
                return
            self._items[key] = image
            self._bytes += len(image.data)
            while self._bytes > self.max_bytes and len(self._items) > 1:
                old_key, old = self._items.popitem(last=False)
                self._bytes -= len(old.data)
                self._key_locks.pop(old_key, None)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._key_locks.clear()
            self._bytes = 0


_MEMO = _PreparedMemo(MEMO_MAX_BYTES)


def clear_image_memo() -> None:
    """Forget every prepared image (tests and long-lived processes that change files on disk)."""
    _MEMO.clear()


class ImageResolver:
    """Finds, fetches and prepares the image of a sample. Thread-safe; share one per run."""

    def __init__(
        self,
        images_root: Path | None = None,
        options: ImageOptions | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.images_root = images_root
        self.options = options or ImageOptions()
        self.cache_dir = cache_dir

    def _error(self, sample: Sample, problem: str) -> ImageError:
        return ImageError(
            sample.source_file, problem, position=sample.position, index=sample.index, field="file_name"
        )

    def local_path(self, sample: Sample) -> Path | None:
        """The local file for the sample's image, or None when it must be downloaded."""
        if self.images_root is not None:
            wanted = self.images_root / sample.subset / sample.image.name
            try:
                root = self.images_root.resolve()
                candidate = (root / sample.subset / sample.image.name).resolve()
            except OSError as error:
                raise self._error(sample, f"image {wanted}: {os_problem(error)}") from None
            except RuntimeError:  # how `resolve` reports a symbolic link loop before Python 3.13
                raise self._error(sample, f"image {wanted}: a symbolic link loop") from None
            if not candidate.is_relative_to(root):
                raise self._error(sample, f"image name {sample.image.name!r} escapes the images root {root}")
            if candidate.is_file():
                return candidate
            if sample.image.local_path is not None and Path(sample.image.local_path).is_file():
                return Path(sample.image.local_path)
            raise self._unusable(sample, candidate)
        if sample.image.local_path is not None:
            path = Path(sample.image.local_path)
            if not path.is_file():
                raise self._unusable(sample, path)
            return path
        return None

    def _unusable(self, sample: Sample, path: Path) -> ImageError:
        problem = file_problem(path)
        if problem is None or problem == "missing":
            return self._error(sample, f"image missing: {path}")
        return self._error(sample, f"image {path}: {problem}")

    def load(self, sample: Sample) -> PreparedImage:
        """The prepared image of `sample`; raises `ImageError` naming the sample's file and record."""
        path = self.local_path(sample) or self._download(sample)
        try:
            stat = path.stat()
        except OSError as exc:
            raise self._error(sample, f"image missing: {path}") from exc
        key = (str(path), stat.st_mtime_ns, stat.st_size, tuple(sorted(self.options.identity().items())))
        found = _MEMO.get(key)
        if found is not None:
            return found
        with _MEMO.key_lock(key):
            found = _MEMO.get(key)
            if found is not None:
                return found
            try:
                prepared = prepare_image_file(path, self.options)
            except ImageError as exc:
                raise self._error(sample, f"image {path}: {exc.problem}") from exc
            _MEMO.put(key, prepared)
            return prepared

    def download_path(self, url: str) -> Path:
        """Where the download of `url` is cached."""
        digest = hashlib.sha256(url.encode()).hexdigest()
        suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
        suffix = suffix if suffix in (".png", ".jpg", ".jpeg", ".gif", ".webp", ".bmp") else ".img"
        return (self.cache_dir or default_cache_dir()) / "images" / digest[:2] / f"{digest}{suffix}"

    def _download(self, sample: Sample) -> Path:
        url = sample.image.url
        if urlsplit(url).scheme not in ("http", "https"):
            raise self._error(sample, f"image {url!r} is not a URL and no images root holds it")
        target = self.download_path(url)
        if target.is_file():
            return target
        with _MEMO.key_lock(("download", url)):
            if target.is_file():
                return target
            data = self._fetch(sample, url)
            atomic_write(target, data)
        return target

    def _fetch(self, sample: Sample, url: str) -> bytes:
        cap = self.options.max_download_bytes
        try:
            with (
                httpx.Client(timeout=self.options.timeout_s, follow_redirects=True) as client,
                client.stream("GET", url) as response,
            ):
                if response.status_code != 200:
                    raise self._error(sample, f"image download failed: HTTP {response.status_code} for {url}")
                content_type = response.headers.get("content-type", "").split(";")[0].strip().lower()
                if content_type and not content_type.startswith(ACCEPTED_CONTENT_TYPES):
                    raise self._error(
                        sample, f"image download is not an image (content-type {content_type!r}): {url}"
                    )
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > cap:
                    raise self._error(
                        sample, f"image download is over the size cap ({declared} > {cap} bytes): {url}"
                    )
                chunks: list[bytes] = []
                size = 0
                for chunk in response.iter_bytes():
                    size += len(chunk)
                    if size > cap:
                        raise self._error(sample, f"image download is over the size cap ({cap} bytes): {url}")
                    chunks.append(chunk)
        except httpx.TimeoutException as exc:
            raise self._error(
                sample, f"image download timed out after {self.options.timeout_s} s: {url}"
            ) from exc
        except httpx.HTTPError as exc:
            raise self._error(sample, f"image download failed: {exc.__class__.__name__} for {url}") from exc
        data = b"".join(chunks)
        if sniff_image_format(data) is None:
            raise self._error(sample, f"image download is not an image (unknown file signature): {url}")
        return data
