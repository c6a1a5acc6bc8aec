from __future__ import annotations

import dataclasses
import json
import math
import warnings
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from crosseval.align.dataset import CARD_FILE, TRAIN_FILE, DatasetCard, DatasetWriter
from crosseval.align.errors import AlignError
from crosseval.align.examples import DpoExample, SftExample, assistant_message, user_message
from crosseval.align.training import (
    TRAINING_CARD,
    TrainSettings,
    checkpointing_argument,
    load_config_file,
    make_settings,
    train,
)
from crosseval.data.prepared_image import PreparedImage
from crosseval.models.types import GenerationParams, GenerationRequest, Message
from tests.helpers.tiny_vlm import build_tiny_llava, build_tiny_text_model

pytest.importorskip("trl")


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny") / "llava")


def _card(kind: str) -> DatasetCard:
    return DatasetCard(
        kind=kind, builder="t", created_at="t", command="c", crosseval_version="0", sources=[], examples=0
    )


def _image_bytes(tmp_path: Path, color: tuple[int, int, int]) -> bytes:
    path = tmp_path / f"{color}.png"
    Image.new("RGB", (40, 40), color).save(path)
    return path.read_bytes()


@pytest.fixture(scope="module")
def datasets_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("data")
    with DatasetWriter(root / "sft") as writer:
        for k in range(4):
            rel, _ = writer.add_image_bytes(_image_bytes(root, (50 * k, 10, 10)), ".png")
            writer.add(
                SftExample(
                    id=f"s{k}",
                    messages=[
                        user_message("Is a clock a good gift for a baby?", images=1),
                        assistant_message("In Japan, no."),
                    ],
                    images=[rel],
                )
            )
        writer.finish(_card("sft"))
    with DatasetWriter(root / "dpo") as writer:
        for k in range(4):
            rel, _ = writer.add_image_bytes(_image_bytes(root, (10, 50 * k, 10)), ".png")
            writer.add(
                DpoExample(
                    id=f"d{k}",
                    prompt=[user_message("Which slippers for the bathroom?", images=1)],
                    chosen=[assistant_message("Wear separate slippers in the bathroom.")],
                    rejected=[assistant_message("Any slippers.")],
                    images=[rel],
                )
            )
        writer.finish(_card("dpo"))
    return root


def _settings(method: str, model: Path, data: Path, out: Path, **extra: object) -> TrainSettings:
    values = {
        "method": method,
        "base_model": str(model),
        "dataset": data,
        "output_dir": out,
        "max_steps": 2,
        "per_device_batch_size": 2,
        "gradient_accumulation_steps": 1,
        "max_length": 256,
        "device": "cpu",
        **extra,
    }
    return make_settings(values)


async def _generate_with(model: Path, adapter: Path | None) -> tuple[str, dict[str, object]]:
    from crosseval.models.hf import HFBackend

    backend = HFBackend(str(model), adapter=adapter, device="cpu")
    Image.new("RGB", (40, 40), (1, 2, 3)).save(model.parent / "probe.png")
    data = (model.parent / "probe.png").read_bytes()
    image = PreparedImage(data, "image/png", "0" * 64, 40, 40)
    request = GenerationRequest(
        (Message("user", "Is a clock a good gift?", (image,)),), GenerationParams(max_tokens=4)
    )
    try:
        result = await backend.generate(request)
    finally:
        await backend.aclose()
    return result.text, dict(backend.identity)


async def _assert_it_reloads_and_generates(base: Path, out: Path, lora: bool) -> None:
    """A LoRA output loads as an adapter on `base` (and says so), a full fine-tune as a model."""
    text, identity = await (_generate_with(base, out) if lora else _generate_with(out, None))
    assert isinstance(text, str)
    assert (identity.get("adapter_sha256") is not None) == lora
    assert (out / "adapter_config.json").is_file() == lora


@pytest.mark.parametrize("lora", [True, False])
async def test_sft_trains_saves_and_reloads(
    tiny_model: Path, datasets_dir: Path, tmp_path: Path, lora: bool
) -> None:
    out = tmp_path / "out"
    card = train(_settings("sft", tiny_model, datasets_dir / "sft", out, lora=lora))
    assert card.steps == 2
    assert card.final_loss is not None and math.isfinite(card.final_loss)
    assert card.assistant_only_loss is True
    assert card.hyperparameters["effective_batch_size"] == 2
    assert card.data_card_sha256 and card.packages["trl"]
    saved = json.loads((out / TRAINING_CARD).read_text())
    assert saved["steps"] == 2 and saved["method"] == "sft"
    assert (out / "model.safetensors").is_file() == (not lora)
    assert [p.name for p in tmp_path.iterdir()] == ["out"]
    await _assert_it_reloads_and_generates(tiny_model, out, lora)


@pytest.mark.parametrize("lora", [True, False])
async def test_dpo_trains_saves_and_reloads(
    tiny_model: Path, datasets_dir: Path, tmp_path: Path, lora: bool
) -> None:
    out = tmp_path / "out"
    card = train(_settings("dpo", tiny_model, datasets_dir / "dpo", out, lora=lora))
    assert card.steps == 2 and card.hyperparameters["beta"] == 0.1
    assert card.final_loss is not None and math.isfinite(card.final_loss)
    await _assert_it_reloads_and_generates(tiny_model, out, lora)


def test_paper_defaults() -> None:
    settings = make_settings({"method": "dpo", "base_model": "m", "dataset": "d", "output_dir": "o"})
    assert (
        settings.epochs == 1 and settings.beta == 0.1 and settings.effective_batch_size == 8 and settings.lora
    )


def test_config_file_and_bad_option(tmp_path: Path) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("lora-r: 4\nper_device_batch_size: 2\ngradient-accumulation-steps: 4\n")
    values = load_config_file(path)
    assert values == {"lora_r": 4, "per_device_batch_size": 2, "gradient_accumulation_steps": 4}
    with pytest.raises(AlignError, match="option 'lora_rank'"):
        make_settings(
            {"method": "sft", "base_model": "m", "dataset": "d", "output_dir": "o", "lora_rank": 4}, "c.yaml"
        )


def test_wrong_dataset_kind(tiny_model: Path, datasets_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(AlignError, match="a DPO dataset cannot train SFT"):
        train(_settings("sft", tiny_model, datasets_dir / "dpo", tmp_path / "out"))


def test_empty_dataset(tiny_model: Path, datasets_dir: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / CARD_FILE).write_text((datasets_dir / "sft" / CARD_FILE).read_text())
    (empty / TRAIN_FILE).write_text("")
    with pytest.raises(AlignError, match="the dataset is empty"):
        train(_settings("sft", tiny_model, empty, tmp_path / "out"))
    assert not (tmp_path / "out").exists()


def test_model_without_vision_tower(datasets_dir: Path, tmp_path: Path, tiny_model: Path) -> None:
    text_only = build_tiny_text_model(tmp_path / "llama", tiny_model)
    with pytest.raises(AlignError, match="vision"):
        train(_settings("sft", text_only, datasets_dir / "sft", tmp_path / "out"))


def test_model_without_chat_template(datasets_dir: Path, tmp_path: Path, tiny_model: Path) -> None:
    import shutil

    copy = tmp_path / "no-template"
    shutil.copytree(tiny_model, copy)
    (copy / "chat_template.jinja").unlink(missing_ok=True)
    for name in ("processor_config.json", "tokenizer_config.json"):
        path = copy / name
        if path.is_file():
            data = json.loads(path.read_text())
            data.pop("chat_template", None)
            path.write_text(json.dumps(data))
    with pytest.raises(AlignError, match="no chat template"):
        train(_settings("sft", copy, datasets_dir / "sft", tmp_path / "out"))


def test_out_of_memory_is_explained(
    tiny_model: Path, datasets_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch
    import trl

    def exhausted(self: object, *args: object, **kwargs: object) -> None:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(trl.SFTTrainer, "train", exhausted)
    with pytest.raises(AlignError, match=r"out of memory while training .*lower --batch-size .*LoRA"):
        train(_settings("sft", tiny_model, datasets_dir / "sft", tmp_path / "out", lora=False))
    assert list(tmp_path.iterdir()) == []


def test_checkpointing_uses_the_name_the_installed_transformers_knows() -> None:
    from transformers import TrainingArguments

    @dataclasses.dataclass
    class OlderArguments:
        gradient_checkpointing: bool = False

    assert checkpointing_argument(TrainingArguments) == "activation_checkpointing"
    assert checkpointing_argument(OlderArguments) == "gradient_checkpointing"


def test_training_with_checkpointing_raises_no_deprecation_and_loads_quietly(
    tiny_model: Path,
    datasets_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    import trl

    arguments: list[Any] = []

    class RecordingTrainer(trl.SFTTrainer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            arguments.append(kwargs["args"])
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(trl, "SFTTrainer", RecordingTrainer)
    settings = _settings(
        "sft", tiny_model, datasets_dir / "sft", tmp_path / "out", gradient_checkpointing=True
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        card = train(settings)

    assert card.steps == 2
    assert arguments[0].activation_checkpointing is True
    assert [str(w.message) for w in caught if issubclass(w.category, FutureWarning)] == []
    assert "Loading weights" not in capsys.readouterr().err
