"""Whole-file writes that never leave a half-written file behind, with the permissions the umask allows."""

from __future__ import annotations

import os
import secrets
from pathlib import Path


def atomic_write(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` through a temporary file in the same folder, fsync it, then rename it.

    Readers see the old file or the new one, never a part; a crash leaves at most a hidden `.tmp` file.
    The file is created with a plain `open`, so it gets the mode the user's umask allows (not the
    private 0600 of `tempfile.mkstemp`): downloads, manifests and reports are made to be read by others.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        with tmp.open("xb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
