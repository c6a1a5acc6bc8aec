"""The public CROSS release: its four benchmark files, downloaded once into the cache.

The files land in `<cache>/upstream/<key>/data/<subset>/<setting>.json` (the upstream layout, so the
folder loader reads them) with `<file>.sha256` beside each. `<key>` is derived from the base URL, so a
mirror set through `CROSSEVAL_UPSTREAM_BASE_URL` never mixes with the official files. Writes are
atomic: a crash leaves either the old file or none, never half a file.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import httpx

from crosseval.atomic import atomic_write
from crosseval.data.cache import cache_dir
from crosseval.data.errors import DataError
from crosseval.data.json_files import decode_utf8, parse_json
from crosseval.data.records import SETTINGS, SUBSETS

UPSTREAM_BASE_URL = "https://raw.githubusercontent.com/haoyiq114/CROSS/main"
BASE_URL_ENV = "CROSSEVAL_UPSTREAM_BASE_URL"
MAX_DATA_FILE_BYTES = 64 * 1024 * 1024
UPSTREAM_FILES: tuple[str, ...] = tuple(
    f"data/{subset}/{setting}.json" for subset in SUBSETS for setting in SETTINGS
)


def upstream_base_url() -> str:
    """The base URL of the release: `$CROSSEVAL_UPSTREAM_BASE_URL`, else the official GitHub raw URL."""
    return (os.environ.get(BASE_URL_ENV) or UPSTREAM_BASE_URL).rstrip("/")


def upstream_dir(base_url: str | None = None, root: Path | None = None) -> Path:
    """The cache folder that holds (or will hold) the release downloaded from `base_url`."""
    url = (base_url or upstream_base_url()).rstrip("/")
    key = hashlib.sha256(url.encode()).hexdigest()[:16]
    return (root or cache_dir()) / "upstream" / key


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in chunks (data files and images can be large)."""
    with path.open("rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _is_cached(path: Path) -> bool:
    checksum = path.with_name(path.name + ".sha256")
    if not path.is_file() or not checksum.is_file():
        return False
    return checksum.read_text().split()[0:1] == [sha256_file(path)]


def _download(client: httpx.Client, url: str, max_bytes: int) -> bytes:
    try:
        with client.stream("GET", url) as response:
            if response.status_code != 200:
                raise DataError(url, f"download failed: HTTP {response.status_code}")
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise DataError(url, f"download is larger than the {max_bytes} byte cap")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.TimeoutException as exc:
        raise DataError(url, f"download timed out: {exc}") from exc
    except httpx.HTTPError as exc:
        raise DataError(url, f"download failed: {exc}") from exc


def ensure_upstream(
    *,
    base_url: str | None = None,
    root: Path | None = None,
    timeout_s: float = 60.0,
    force: bool = False,
) -> Path:
    """Return a folder with the upstream layout holding the four CROSS files, downloading what is missing.

    A file is reused when its recorded sha256 matches its bytes; otherwise it is fetched again. A
    download that is not a JSON array is refused (an HTML error page served with status 200, say).
    """
    url = (base_url or upstream_base_url()).rstrip("/")
    target = upstream_dir(url, root)
    missing = [rel for rel in UPSTREAM_FILES if force or not _is_cached(target / rel)]
    if not missing:
        return target
    with httpx.Client(timeout=timeout_s, follow_redirects=True) as client:
        for rel in missing:
            file_url = f"{url}/{rel}"
            data = _download(client, file_url, MAX_DATA_FILE_BYTES)
            try:
                parsed = parse_json(decode_utf8(data, file_url), file_url)
            except DataError as exc:
                raise DataError(
                    file_url,
                    f"the download is not valid JSON: {exc.problem}",
                    line=exc.line,
                    column=exc.column,
                ) from exc
            if not isinstance(parsed, list):
                raise DataError(file_url, "the download is not a JSON array of records")
            path = target / rel
            atomic_write(path, data)
            atomic_write(
                path.with_name(path.name + ".sha256"),
                f"{hashlib.sha256(data).hexdigest()}  {file_url}\n".encode(),
            )
    return target
