"""Data URIs carry the image's own MIME type and are encoded once per image."""

from __future__ import annotations

import base64
import hashlib

from crosseval.data.prepared_image import PreparedImage
from crosseval.models.data_uri import DataUriCache, encode_data_uri


def blob(marker: int, size: int = 3000, mime: str = "image/png") -> PreparedImage:
    data = bytes([marker]) * size
    return PreparedImage(data=data, mime=mime, sha256=hashlib.sha256(data).hexdigest(), width=1, height=1)


def test_data_uri_round_trips_the_bytes_with_the_mime() -> None:
    image = blob(7, mime="image/webp")

    uri = encode_data_uri(image)

    header, payload = uri.split(",", 1)
    assert header == "data:image/webp;base64"
    assert base64.b64decode(payload) == image.data


def test_repeated_images_are_served_from_the_cache() -> None:
    cache = DataUriCache()
    image = blob(1)

    first = cache.get(image)
    second = cache.get(image)

    assert first is second
    assert (cache.misses, cache.hits) == (1, 1)


def test_least_recently_used_is_evicted_beyond_the_byte_limit() -> None:
    images = [blob(i) for i in range(3)]
    one = len(encode_data_uri(images[0]))
    cache = DataUriCache(max_bytes=2 * one)
    cache.get(images[0])
    cache.get(images[1])
    cache.get(images[0])  # images[1] is now the least recently used
    cache.get(images[2])

    assert len(cache) == 2
    cache.get(images[0])
    assert cache.hits == 2
    cache.get(images[1])
    assert cache.misses == 4  # images[1] had been evicted and was encoded again


def test_an_image_larger_than_the_cache_is_encoded_but_not_kept() -> None:
    cache = DataUriCache(max_bytes=100)

    uri = cache.get(blob(3))

    assert uri.startswith("data:image/png;base64,")
    assert len(cache) == 0
