"""`manifest.json`: what a run measured, with what, and by which code, beside its `run.sqlite`.

Sections: `dataset` (data files with sha256 and record counts), `generation` (model identity,
parameters, rounds, image options, times, token usage), `package` (crosseval version, git commit,
Python, platform); the judge adds `judges`. Each update rewrites the file atomically (write a
temporary file, then rename), so a crash leaves the old or the new manifest, never a torn one.
Nothing secret belongs here: callers pass identities and parameters, never keys or credentialed URLs.
"""

from __future__ import annotations

import json
import platform
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Any

from crosseval import __version__
from crosseval.atomic import atomic_write
from crosseval.errors import UserError

MANIFEST_FILENAME = "manifest.json"


class ManifestError(UserError):
    """A manifest that exists but cannot be read as a JSON object."""


def read_manifest(run_dir: Path) -> dict[str, Any]:
    """The run's manifest, or `{}` when the run has none yet."""
    path = Path(run_dir) / MANIFEST_FILENAME
    if not path.is_file():
        return {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot be read as UTF-8 text ({exc})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ManifestError(f"{path}: not valid JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ManifestError(f"{path}: expected a JSON object, found {type(data).__name__}")
    return data


def update_manifest(run_dir: Path, section: str, data: dict[str, Any]) -> dict[str, Any]:
    """Replace one section of the manifest (creating the file if needed); returns the whole manifest."""
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    manifest = read_manifest(run_dir)
    manifest[section] = data
    text = json.dumps(manifest, indent=2, ensure_ascii=False, sort_keys=False) + "\n"
    atomic_write(run_dir / MANIFEST_FILENAME, text)
    return manifest


@lru_cache(maxsize=1)
def _git_state() -> dict[str, Any]:
    """The commit of the checkout crosseval runs from (editable installs), if it is a git checkout."""
    source_dir = Path(__file__).resolve().parent

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=source_dir, capture_output=True, text=True, timeout=5, check=True
        )
        return done.stdout.strip()

    try:
        commit = git("rev-parse", "HEAD")
        dirty = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": None, "git_dirty": None}
    return {"git_commit": commit or None, "git_dirty": bool(dirty)}


def package_info() -> dict[str, Any]:
    """crosseval version, git commit (when run from a checkout), Python and platform."""
    return {
        "crosseval": __version__,
        **_git_state(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
