from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosseval.engine.manifest import (
    MANIFEST_FILENAME,
    ManifestError,
    package_info,
    read_manifest,
    update_manifest,
)


def test_sections_are_written_atomically_and_kept(tmp_path: Path) -> None:
    assert read_manifest(tmp_path) == {}
    update_manifest(tmp_path, "dataset", {"files": [{"path": "a.json", "sha256": "x"}]})
    update_manifest(tmp_path, "generation", {"model": "openai/m"})
    update_manifest(tmp_path, "generation", {"model": "openai/n"})

    manifest = json.loads((tmp_path / MANIFEST_FILENAME).read_text())
    assert manifest == {
        "dataset": {"files": [{"path": "a.json", "sha256": "x"}]},
        "generation": {"model": "openai/n"},
    }
    assert read_manifest(tmp_path) == manifest
    assert [p.name for p in tmp_path.iterdir()] == [MANIFEST_FILENAME]


def test_a_broken_manifest_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILENAME).write_text("{not json")
    with pytest.raises(ManifestError, match=str(tmp_path / MANIFEST_FILENAME)):
        read_manifest(tmp_path)


def test_package_info_names_version_commit_and_python() -> None:
    info = package_info()
    assert info["crosseval"] == "0.1.0"
    assert set(info) >= {"git_commit", "python", "platform"}
    assert info["git_commit"] is None or len(info["git_commit"]) == 40


def test_a_manifest_that_is_not_utf8_is_reported_with_its_path(tmp_path: Path) -> None:
    (tmp_path / MANIFEST_FILENAME).write_bytes(b'{"generation": "\xff"}')
    with pytest.raises(ManifestError, match="cannot be read as UTF-8"):
        read_manifest(tmp_path)
