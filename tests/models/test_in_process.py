"""The in-process backends' shared pieces: import checks that import nothing, and adapter hashes."""

from __future__ import annotations

import shutil
import sys
import types
from pathlib import Path

import pytest

from crosseval.models.errors import ConfigError
from crosseval.models.in_process import checked_adapter_sha256, directory_sha256, module_available


@pytest.fixture
def adapter(tmp_path: Path) -> Path:
    folder = tmp_path / "cultural-lora"
    (folder / "nested").mkdir(parents=True)
    (folder / "adapter_config.json").write_text('{"r": 8}')
    (folder / "nested" / "adapter_model.safetensors").write_bytes(b"\0weights")
    return folder


def test_module_available_finds_without_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "colorsys", raising=False)

    assert module_available("colorsys")
    assert "colorsys" not in sys.modules
    assert not module_available("crosseval_no_such_module")


def test_module_available_accepts_a_module_put_in_place_by_hand(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "stand_in_engine", types.ModuleType("stand_in_engine"))  # no __spec__

    assert module_available("stand_in_engine")


def test_an_adapter_hash_changes_with_any_content_or_name(adapter: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(adapter, tmp_path / "copy")
    assert checked_adapter_sha256(copy) == checked_adapter_sha256(adapter) == directory_sha256(adapter)

    (copy / "nested" / "adapter_model.safetensors").write_bytes(b"\0weightz")
    assert directory_sha256(copy) != directory_sha256(adapter)
    shutil.copy(adapter / "nested" / "adapter_model.safetensors", copy / "nested")
    (copy / "nested" / "adapter_model.safetensors").rename(copy / "nested" / "renamed.safetensors")
    assert directory_sha256(copy) != directory_sha256(adapter)


def test_a_folder_without_adapter_config_is_not_an_adapter(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"not a PEFT adapter folder \(no adapter_config\.json\)"):
        checked_adapter_sha256(tmp_path)
