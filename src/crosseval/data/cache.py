"""Where crosseval keeps downloads (upstream data files, images) on this machine."""

from __future__ import annotations

import os
from pathlib import Path

CACHE_ENV = "CROSSEVAL_CACHE_DIR"


def cache_dir() -> Path:
    """The cache folder: `$CROSSEVAL_CACHE_DIR`, else `$XDG_CACHE_HOME/crosseval`, else `~/.cache/crosseval`.

    The folder is not created here; writers create the sub-folders they need.
    """
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "crosseval"
    return Path.home() / ".cache" / "crosseval"
