"""The in-process transformers backend with a tiny random LLaVA built on the spot (no download)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from crosseval.data.prepared_image import PreparedImage
from crosseval.models.errors import ConfigError
from crosseval.models.registry import BackendConfig, create_backend
from crosseval.models.types import BackendError, GenerationParams, GenerationRequest, Message
from tests.models.conftest import make_image

pytest.importorskip("torch")
pytest.importorskip("transformers")

from crosseval.models.hf import HFBackend, directory_sha256, generation_kwargs
from tests.helpers.tiny_vlm import build_tiny_llava, build_tiny_text_model


@pytest.fixture(scope="module")
def tiny_llava(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_llava(tmp_path_factory.mktemp("tiny-llava"))


@pytest.fixture(scope="module")
def tiny_adapter(tiny_llava: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForImageTextToText

    torch.manual_seed(1)
    model = AutoModelForImageTextToText.from_pretrained(tiny_llava)
    config = LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj"], init_lora_weights=False)
    adapter = tmp_path_factory.mktemp("adapter") / "cultural-lora"
    get_peft_model(model, config).save_pretrained(str(adapter))
    return adapter


def requests(params: GenerationParams) -> list[GenerationRequest]:
    """Prompts of different lengths, with and without images, so left padding matters."""
    red = make_image("PNG", size=(64, 48), color=(220, 20, 20))
    blue = make_image("JPEG", size=(32, 80), color=(20, 20, 220))
    return [
        GenerationRequest((Message("user", "Is a clock a good gift for a baby in China?", (red,)),), params),
        GenerationRequest((Message("user", "Yes", (blue,)),), params),
        GenerationRequest(
            (
                Message("system", "Answer briefly."),
                Message("user", "Wear separate slippers in the bathroom?"),
            ),
            params,
        ),
        GenerationRequest(
            (Message("user", "The Daruma doll has one eye painted when a wish is made.", (red,)),), params
        ),
    ]


GREEDY = GenerationParams(temperature=0.0, max_tokens=12)


async def test_batched_greedy_outputs_equal_unbatched(tiny_llava: Path) -> None:
    batched = HFBackend(str(tiny_llava), batch_size=4)
    together = await asyncio.gather(*(batched.generate(request) for request in requests(GREEDY)))
    await batched.aclose()
    alone = HFBackend(str(tiny_llava), batch_size=1)
    one_by_one = [await alone.generate(request) for request in requests(GREEDY)]
    await alone.aclose()

    assert batched.batch_sizes == [4]
    assert alone.batch_sizes == [1, 1, 1, 1]
    assert [r.text for r in together] == [r.text for r in one_by_one]
    assert [r.completion_tokens for r in together] == [r.completion_tokens for r in one_by_one]
    assert [r.prompt_tokens for r in together] == [r.prompt_tokens for r in one_by_one]
    assert len({r.text for r in together}) > 1


async def test_results_report_tokens_and_finish_reason(tiny_llava: Path) -> None:
    backend = HFBackend(str(tiny_llava))
    result = await backend.generate(requests(GenerationParams(temperature=0.0, max_tokens=5))[0])
    await backend.aclose()

    assert result.completion_tokens is not None and 1 <= result.completion_tokens <= 5
    assert result.finish_reason == ("length" if result.completion_tokens == 5 else "stop")
    assert result.prompt_tokens is not None and result.prompt_tokens > 16  # 16 image tokens + the text
    assert result.latency_s is not None and result.latency_s > 0


async def test_sampling_with_a_seed_is_reproducible(tiny_llava: Path) -> None:
    backend = HFBackend(str(tiny_llava))
    request = requests(GenerationParams(temperature=1.5, top_p=0.95, seed=11, max_tokens=16))[0]
    first = await backend.generate(request)
    second = await backend.generate(request)
    await backend.aclose()

    assert first.text == second.text


def test_generation_kwargs_follow_the_temperature_rules() -> None:
    assert generation_kwargs(GenerationParams()) == {"max_new_tokens": 512}
    assert generation_kwargs(GenerationParams(temperature=0.0, top_p=0.5, max_tokens=9)) == {
        "max_new_tokens": 9,
        "do_sample": False,
    }
    assert generation_kwargs(GenerationParams(temperature=0.7, top_p=0.9)) == {
        "max_new_tokens": 512,
        "do_sample": True,
        "temperature": 0.7,
        "top_p": 0.9,
    }


async def test_a_broken_image_fails_its_request_as_data(tiny_llava: Path) -> None:
    backend = HFBackend(str(tiny_llava))
    broken = PreparedImage(data=b"not an image", mime="image/png", sha256="0" * 64, width=1, height=1)
    with pytest.raises(BackendError) as caught:
        await backend.generate(GenerationRequest((Message("user", "What is this?", (broken,)),), GREEDY))
    healthy = await backend.generate(requests(GREEDY)[2])
    await backend.aclose()

    assert caught.value.kind == "backend"
    assert "UnidentifiedImageError" in caught.value.message
    assert healthy.text


async def test_an_adapter_loads_changes_identity_and_output(tiny_llava: Path, tiny_adapter: Path) -> None:
    base = create_backend(BackendConfig(model=f"hf/{tiny_llava}"))
    tuned = create_backend(BackendConfig(model=f"hf/{tiny_llava}", adapter=tiny_adapter))
    request = requests(GenerationParams(temperature=0.0, max_tokens=12))[0]
    base_text = (await base.generate(request)).text
    tuned_text = (await tuned.generate(request)).text
    await base.aclose()
    await tuned.aclose()

    assert "adapter_sha256" not in base.identity
    assert tuned.identity["adapter_sha256"] == directory_sha256(tiny_adapter)
    assert tuned.identity["adapter"] == "cultural-lora"
    assert {k: v for k, v in tuned.identity.items() if not k.startswith("adapter")} == base.identity
    assert tuned_text != base_text


def test_adapter_hash_changes_with_its_content(tiny_adapter: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_adapter, tmp_path / "copy")
    assert directory_sha256(copy) == directory_sha256(tiny_adapter)

    (copy / "adapter_config.json").write_text((copy / "adapter_config.json").read_text() + " ")
    assert directory_sha256(copy) != directory_sha256(tiny_adapter)


def test_a_folder_that_is_not_an_adapter_is_refused(tiny_llava: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"adapter_config\.json"):
        HFBackend(str(tiny_llava), adapter=tmp_path)


def test_missing_chat_template_is_a_config_error(tiny_llava: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_llava, tmp_path / "no-template")
    (copy / "chat_template.jinja").unlink()

    with pytest.raises(ConfigError, match="no chat template"):
        HFBackend(str(copy))


def test_a_text_only_model_is_a_config_error(tmp_path: Path) -> None:
    text_only = build_tiny_text_model(tmp_path / "text-only", build_tiny_llava(tmp_path / "vlm"))

    with pytest.raises(ConfigError, match="vision-language model"):
        HFBackend(str(text_only))


def test_a_missing_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot load"):
        HFBackend(str(tmp_path / "absent"))


def test_a_missing_relative_model_folder_is_named_as_a_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=r"cannot load the model './absent': no such folder"):
        HFBackend("./absent")


def test_unknown_dtype_is_a_config_error(tiny_llava: Path) -> None:
    with pytest.raises(ConfigError, match="dtype"):
        HFBackend(str(tiny_llava), dtype="float8")


def test_identity_names_the_model_and_dtype(tiny_llava: Path) -> None:
    backend = HFBackend(str(tiny_llava), device="cpu")

    assert backend.identity == {"provider": "hf", "model": str(tiny_llava), "dtype": "float32"}
