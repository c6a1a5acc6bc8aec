"""The in-process transformers backend with a tiny random LLaVA built on the spot (no download)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import sys
import textwrap
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from crosseval.data.prepared_image import PreparedImage
from crosseval.models.errors import ConfigError
from crosseval.models.registry import BackendConfig, create_backend
from crosseval.models.types import (
    BackendError,
    GenerationParams,
    GenerationRequest,
    GenerationResult,
    LoadsOnFirstUse,
    Message,
)
from tests.models.conftest import make_image

pytest.importorskip("torch")
pytest.importorskip("transformers")

from crosseval.models.hf import HFBackend, generation_kwargs
from crosseval.models.in_process import directory_sha256
from crosseval.models.quiet_loading import quiet_transformers
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
    with quiet_transformers():  # peft's FutureWarning about a renamed transformers attribute
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


def test_a_folder_that_is_not_an_adapter_is_refused_when_built(tiny_llava: Path, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"adapter_config\.json"):
        HFBackend(str(tiny_llava), adapter=tmp_path)


async def test_missing_chat_template_is_a_config_error_at_load(tiny_llava: Path, tmp_path: Path) -> None:
    copy = shutil.copytree(tiny_llava, tmp_path / "no-template")
    (copy / "chat_template.jinja").unlink()
    backend = HFBackend(str(copy))

    with pytest.raises(ConfigError, match="no chat template"):
        await backend.load()


async def test_a_text_only_model_is_a_config_error_at_load(tmp_path: Path) -> None:
    text_only = build_tiny_text_model(tmp_path / "text-only", build_tiny_llava(tmp_path / "vlm"))
    backend = HFBackend(str(text_only))

    with pytest.raises(ConfigError, match="vision-language model"):
        await backend.load()


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


def test_identity_names_the_model_and_requested_dtype_on_any_device(tiny_llava: Path) -> None:
    on_cpu = HFBackend(str(tiny_llava), device="cpu")
    on_gpu = HFBackend(str(tiny_llava), device="cuda:3")  # never loads, so no GPU is needed

    assert on_cpu.identity == {"provider": "hf", "model": str(tiny_llava), "dtype": "auto"}
    assert on_gpu.identity == on_cpu.identity
    assert HFBackend(str(tiny_llava), dtype="bfloat16").identity["dtype"] == "bfloat16"


# --- loading on first use -------------------------------------------------------------------------------


@pytest.fixture
def weight_loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every weights load of the hf backend, by model; each takes 0.2 s longer, widening any race."""
    from transformers import AutoModelForImageTextToText

    real = AutoModelForImageTextToText.from_pretrained.__func__  # type: ignore[attr-defined]
    loads: list[str] = []

    def counting(cls: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        loads.append(str(model))
        time.sleep(0.2)
        return real(cls, model, *args, **kwargs)

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", classmethod(counting))
    return loads


def test_building_and_identity_load_nothing(
    tiny_llava: Path, tiny_adapter: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoConfig, AutoModelForImageTextToText, AutoProcessor

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("loaded while building the backend")

    for auto in (AutoConfig, AutoModelForImageTextToText, AutoProcessor):
        monkeypatch.setattr(auto, "from_pretrained", refuse)
    backend = create_backend(BackendConfig(model=f"hf/{tiny_llava}", adapter=tiny_adapter, device="cpu"))

    assert isinstance(backend, HFBackend) and isinstance(backend, LoadsOnFirstUse)
    assert backend.identity == {
        "provider": "hf",
        "model": str(tiny_llava),
        "dtype": "auto",
        "adapter": "cultural-lora",
        "adapter_sha256": directory_sha256(tiny_adapter),
    }
    assert not backend.loaded


def test_building_and_identity_import_neither_torch_nor_transformers(tiny_llava: Path) -> None:
    script = textwrap.dedent(
        f"""
        import sys
        from crosseval.models.registry import BackendConfig, create_backend
        backend = create_backend(BackendConfig(model="hf/{tiny_llava}", dtype="float16"))
        assert backend.identity["dtype"] == "float16"
        print(sorted(name for name in ("torch", "transformers", "peft") if name in sys.modules))
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)

    assert done.stdout.strip() == "[]"


async def test_the_first_generate_loads_once_for_concurrent_callers(
    tiny_llava: Path, weight_loads: list[str]
) -> None:
    backend = HFBackend(str(tiny_llava), batch_size=2)
    assert weight_loads == [] and not backend.loaded

    together = await asyncio.gather(*(backend.generate(request) for request in requests(GREEDY)))
    again = await backend.generate(requests(GREEDY)[0])
    await backend.aclose()

    assert weight_loads == [str(tiny_llava)]
    assert backend.loaded and all(result.text for result in together)
    assert again.text == together[0].text


def test_threads_share_the_first_load(tiny_llava: Path, weight_loads: list[str]) -> None:
    backend = HFBackend(str(tiny_llava))
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(lambda request: backend.generate_batch([request])[0], requests(GREEDY)))

    assert weight_loads == [str(tiny_llava)]
    assert all(isinstance(outcome, GenerationResult) for outcome in outcomes)


async def test_a_failed_load_is_one_config_error_for_every_caller(
    tiny_llava: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoProcessor

    copy = shutil.copytree(tiny_llava, tmp_path / "no-template")
    (copy / "chat_template.jinja").unlink()
    real = AutoProcessor.from_pretrained.__func__  # type: ignore[attr-defined]
    processor_loads: list[str] = []

    def counting(cls: Any, model: Any, *args: Any, **kwargs: Any) -> Any:
        processor_loads.append(str(model))
        return real(cls, model, *args, **kwargs)

    monkeypatch.setattr(AutoProcessor, "from_pretrained", classmethod(counting))
    backend = HFBackend(str(copy))

    outcomes = await asyncio.gather(
        *(backend.generate(request) for request in requests(GREEDY)), return_exceptions=True
    )
    with pytest.raises(ConfigError, match="no chat template"):
        backend.generate_batch(requests(GREEDY))  # not one BackendError per request
    await backend.aclose()

    assert all(isinstance(outcome, ConfigError) for outcome in outcomes)
    assert {str(outcome) for outcome in outcomes} == {str(outcomes[0])}
    assert "no chat template" in str(outcomes[0])
    assert processor_loads == [str(copy)]


async def test_an_unexpected_load_failure_is_a_config_error_that_names_it(
    tiny_llava: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformers import AutoModelForImageTextToText

    def exhausted(cls: Any, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("CUDA out of memory. Tried to allocate 20.00 GiB")

    monkeypatch.setattr(AutoModelForImageTextToText, "from_pretrained", classmethod(exhausted))
    backend = HFBackend(str(tiny_llava))

    with pytest.raises(ConfigError, match=r"cannot load the model '.*': RuntimeError: CUDA out of memory"):
        await backend.load()


async def test_loading_prints_no_weight_progress_bar(
    tiny_llava: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    backend = HFBackend(str(tiny_llava))
    await backend.load()
    await backend.aclose()

    assert "Loading weights" not in capsys.readouterr().err
