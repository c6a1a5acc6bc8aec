"""Images as base64 `data:` URIs, encoded once per image and reused across requests.

Base64-encoding a 200 KB image costs about as much CPU as the rest of a request on the client, and the
same image is sent many times (3 paraphrases, 3 rounds, 4 judge calls). The cache is keyed by the
image's sha256 and bounded in bytes so a long run does not hold every image in memory.
"""

from __future__ import annotations

import base64
import threading
from collections import OrderedDict

from crosseval.models.types import ImageInput

DEFAULT_CACHE_BYTES = 64 * 1024 * 1024


def encode_data_uri(image: ImageInput) -> str:
    """`data:<mime>;base64,<bytes>` with the image's real MIME type."""
    return f"data:{image.mime};base64,{base64.b64encode(image.data).decode('ascii')}"


class DataUriCache:
    """A least-recently-used map from image sha256 to its data URI, holding at most `max_bytes`."""

    def __init__(self, max_bytes: int = DEFAULT_CACHE_BYTES) -> None:
        self.max_bytes = max_bytes
        self._uris: OrderedDict[str, str] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._uris)

    def get(self, image: ImageInput) -> str:
        key = f"{image.sha256}:{image.mime}"
        with self._lock:
            uri = self._uris.get(key)
            if uri is not None:
                self._uris.move_to_end(key)
                self.hits += 1
                return uri
        uri = encode_data_uri(image)
        with self._lock:
            self.misses += 1
            if key not in self._uris and len(uri) <= self.max_bytes:
                self._uris[key] = uri
                self._bytes += len(uri)
                while self._bytes > self.max_bytes:
                    _, evicted = self._uris.popitem(last=False)
                    self._bytes -= len(evicted)
        return uri
