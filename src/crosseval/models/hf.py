"""The in-process transformers backend (`hf/<model-id-or-path>`): any image-text-to-text model.

The model is loaded once, on first use, with `AutoModelForImageTextToText` + `AutoProcessor`; prompts are
built with the model's own chat template. Concurrent `generate` calls are gathered by a `MicroBatcher` and
run as one left-padded batch in a worker thread. torch and transformers are imported only when the model
loads, so the core package imports without them (`pip install crosseval[local]`), and a command with
nothing to send (a rerun of a finished run, a dry run) never imports them.
"""

from __future__ import annotations

import functools
import io
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from crosseval.models.errors import ConfigError
from crosseval.models.in_process import InProcessBackend, checked_adapter_sha256, module_available
from crosseval.models.quiet_loading import quiet_transformers
from crosseval.models.types import BackendError, GenerationParams, GenerationRequest, GenerationResult

DEFAULT_MAX_NEW_TOKENS = 512
_DTYPES = ("auto", "float32", "float16", "bfloat16")


def to_chat_conversation(request: GenerationRequest) -> tuple[list[dict[str, Any]], list[bytes]]:
    """A chat-template conversation (images first in each message) and the image bytes, in prompt order."""
    conversation: list[dict[str, Any]] = []
    images: list[bytes] = []
    for message in request.messages:
        parts: list[dict[str, Any]] = [{"type": "image"} for _ in message.images]
        images.extend(image.data for image in message.images)
        if message.text:
            parts.append({"type": "text", "text": message.text})
        conversation.append({"role": message.role, "content": parts})
    return conversation, images


def generation_kwargs(
    params: GenerationParams, default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS
) -> dict[str, Any]:
    """`generate` keyword arguments. Temperature `None` keeps the model's generation_config; 0 is greedy."""
    kwargs: dict[str, Any] = {"max_new_tokens": params.max_tokens or default_max_tokens}
    if params.temperature is not None:
        if params.temperature <= 0:
            kwargs["do_sample"] = False
        else:
            kwargs["do_sample"] = True
            kwargs["temperature"] = params.temperature
    if params.top_p is not None and kwargs.get("do_sample", True):
        kwargs["top_p"] = params.top_p
    return kwargs


def _batch_key(params: GenerationParams) -> tuple[Any, ...]:
    return (params.temperature, params.top_p, params.max_tokens, params.seed)


def _resolve_device(device: str | None) -> str:
    import torch

    if device not in (None, "", "auto"):
        return str(device)
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def _load_dtype(dtype: str, device: str) -> str:
    """`auto` is float32 on CPU (half precision is slow there) and the checkpoint's own dtype elsewhere."""
    return "float32" if dtype == "auto" and device == "cpu" else dtype


def _check_model_folder(model_id: str) -> None:
    """A `ConfigError` for a model spelled as a path that is not a folder (cheap: no import, no load)."""
    if model_id.startswith(("/", "./", "../", "~")) and not Path(model_id).expanduser().is_dir():
        # Spelled as a path: the hub's complaint about repo-id characters would only confuse.
        raise ConfigError(
            f"cannot load the model {model_id!r}: no such folder (hf/ takes a hub model id or a local folder)"
        )


def _check_hub_can_deliver(model_id: str) -> None:
    """A one-line `ConfigError`, at once, for a model that is neither on disk nor to be had from the hub.

    A local folder, or a hub model already in the cache, needs no network. Anything else is asked of the
    hub once, without retries: transformers would otherwise retry an unreachable hub for half a minute,
    a warning line per try, before failing with the same news.
    """
    if Path(model_id).expanduser().is_dir():
        return
    from huggingface_hub import HfApi, constants, try_to_load_from_cache
    from huggingface_hub.errors import HfHubHTTPError, HFValidationError, RepositoryNotFoundError
    from huggingface_hub.utils import validate_repo_id

    failure = f"cannot load the model {model_id!r}"
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        raise ConfigError(f"{failure}: no such folder, and not a hub model id (namespace/name)") from None
    if isinstance(try_to_load_from_cache(model_id, "config.json"), str):
        return
    if constants.HF_HUB_OFFLINE:
        raise ConfigError(
            f"{failure}: not a local folder, not in the Hugging Face cache, and HF_HUB_OFFLINE is set"
        )
    try:
        HfApi().model_info(model_id, timeout=constants.HF_HUB_ETAG_TIMEOUT)
    except RepositoryNotFoundError:
        raise ConfigError(
            f"{failure}: no such folder, and the hub has no such model (a private or gated one needs HF_TOKEN)"
        ) from None
    except HfHubHTTPError:
        return  # the hub answers: loading will say what it refuses
    except Exception as error:  # the transport's errors differ by huggingface_hub version (httpx, httpx2)
        raise ConfigError(
            f"{failure}: not a local folder, not in the Hugging Face cache, and the hub at {constants.ENDPOINT} "
            f"cannot be reached ({type(error).__name__}): check the network, or give a local folder"
        ) from None


def _check_is_vision_language_model(model_id: str, trust_remote_code: bool) -> None:
    """A `ConfigError` unless the model's config describes an image-text-to-text model."""
    from transformers import AutoConfig
    from transformers.models.auto.modeling_auto import MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES

    _check_model_folder(model_id)
    try:
        config = AutoConfig.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot load the model {model_id!r}: {error}") from None
    model_type = getattr(config, "model_type", "")
    if (
        model_type not in MODEL_FOR_IMAGE_TEXT_TO_TEXT_MAPPING_NAMES
        and getattr(config, "vision_config", None) is None
    ):
        raise ConfigError(
            f"{model_id!r} ({model_type or 'unknown type'}) has no vision tower: "
            "the hf/ backend needs a vision-language model (image-text-to-text)"
        )


def _load_processor(model_id: str, trust_remote_code: bool) -> Any:
    """The model's processor, set for batched generation; a `ConfigError` unless it is multimodal with a chat template."""
    from transformers import AutoProcessor

    try:
        processor = AutoProcessor.from_pretrained(model_id, trust_remote_code=trust_remote_code)
    except (OSError, ValueError) as error:
        raise ConfigError(f"cannot load the processor of {model_id!r}: {error}") from None
    tokenizer = getattr(processor, "tokenizer", None)
    if tokenizer is None or not hasattr(processor, "image_processor"):
        raise ConfigError(
            f"{model_id!r} has no multimodal processor (tokenizer + image processor): "
            "the hf/ backend needs a vision-language model"
        )
    if not getattr(processor, "chat_template", None):
        if getattr(tokenizer, "chat_template", None):
            processor.chat_template = tokenizer.chat_template
        else:
            raise ConfigError(
                f"the processor of {model_id!r} has no chat template: use an instruction-tuned model, "
                "or add `chat_template` to its processor_config.json / chat_template.jinja"
            )
    tokenizer.padding_side = "left"
    return processor


@dataclass(frozen=True)
class _LoadedModel:
    """What the first use of a backend loads: the model on its device, its processor, its end tokens."""

    model: Any
    processor: Any
    device: str
    eos_ids: frozenset[int]


class HFBackend(InProcessBackend[_LoadedModel]):
    """A local vision-language model run with transformers, optionally with a PEFT adapter on top.

    Building the backend checks only what is cheap (options, that the libraries are installed, that a
    model spelled as a path and the adapter exist) and hashes the adapter, so `identity` is known at
    once. The processor, the weights and the adapter load on first use (`load`, or the first
    `generate`), once, even with concurrent callers. A load that fails raises `ConfigError` to every
    caller, with the message a constructor that loaded eagerly would have given.
    """

    def __init__(
        self,
        model_id: str,
        *,
        adapter: Path | None = None,
        device: str | None = None,
        dtype: str | None = None,
        batch_size: int = 8,
        default_max_tokens: int = DEFAULT_MAX_NEW_TOKENS,
        trust_remote_code: bool = False,
        max_wait_s: float = 0.005,
    ) -> None:
        missing = [name for name in ("torch", "transformers") if not module_available(name)]
        if missing:
            raise ConfigError(
                f"the hf/ backend needs torch and transformers (missing: {', '.join(missing)}): "
                "pip install 'crosseval[local]'"
            )
        if dtype is not None and dtype not in _DTYPES:
            raise ConfigError(f"unknown dtype {dtype!r}: use one of {', '.join(_DTYPES)}")
        _check_model_folder(model_id)
        self.model_id = model_id
        self.dtype = dtype or "auto"
        """The requested weights dtype (`auto`: float32 on CPU, the checkpoint's own dtype elsewhere)."""
        self.default_max_tokens = default_max_tokens
        self.trust_remote_code = trust_remote_code
        self._requested_device = device
        self.adapter = adapter
        self.adapter_sha256: str | None = None
        if adapter is not None:
            self.adapter_sha256 = checked_adapter_sha256(adapter)
            if not module_available("peft"):
                raise ConfigError("--adapter needs peft: pip install 'crosseval[local]'")
        self._load_failure = f"cannot load the model {model_id!r}"
        super().__init__(batch_size=batch_size, max_wait_s=max_wait_s)

    @functools.cached_property
    def device(self) -> str:
        """The device the model runs on: the requested one, or the best available (imports torch, loads nothing)."""
        return _resolve_device(self._requested_device)

    def _load(self) -> _LoadedModel:
        with quiet_transformers():
            return self._load_model()

    def _load_model(self) -> _LoadedModel:
        try:
            from transformers import AutoModelForImageTextToText
        except ImportError as error:
            raise ConfigError(
                f"the hf/ backend needs torch and transformers ({error}): pip install 'crosseval[local]'"
            ) from None
        _check_hub_can_deliver(self.model_id)
        _check_is_vision_language_model(self.model_id, self.trust_remote_code)
        processor = _load_processor(self.model_id, self.trust_remote_code)
        device = self.device
        try:
            model: Any = AutoModelForImageTextToText.from_pretrained(
                self.model_id, dtype=_load_dtype(self.dtype, device), trust_remote_code=self.trust_remote_code
            )
        except ValueError as error:
            raise ConfigError(
                f"{self.model_id!r} is not an image-text-to-text model (no vision tower?): {error}"
            ) from None
        except OSError as error:
            raise ConfigError(f"cannot load the model {self.model_id!r}: {error}") from None
        if self.adapter is not None:
            model = self._with_adapter(model, self.adapter)
        model = model.to(device).eval()
        eos = model.generation_config.eos_token_id
        eos_ids = frozenset(
            [] if eos is None else [eos] if isinstance(eos, int) else [int(token) for token in eos]
        )
        return _LoadedModel(model=model, processor=processor, device=device, eos_ids=eos_ids)

    def _with_adapter(self, model: Any, adapter: Path) -> Any:
        try:
            from peft import PeftModel
        except ImportError:
            raise ConfigError("--adapter needs peft: pip install 'crosseval[local]'") from None
        try:
            return PeftModel.from_pretrained(model, str(adapter))
        except (OSError, ValueError, RuntimeError) as error:
            raise ConfigError(f"cannot load the adapter {adapter} onto {self.model_id!r}: {error}") from None

    @property
    def identity(self) -> dict[str, Any]:
        """Model, requested dtype and adapter hash: known without loading, the same on every device."""
        identity: dict[str, Any] = {"provider": "hf", "model": self.model_id, "dtype": self.dtype}
        if self.adapter is not None:
            identity["adapter"] = self.adapter.name
            identity["adapter_sha256"] = self.adapter_sha256
        return identity

    def generate_batch(self, requests: Sequence[GenerationRequest]) -> list[GenerationResult | BackendError]:
        """Runs `requests` synchronously, batching those that share generation parameters.

        Loads the model first if needed; a load failure raises `ConfigError` (it is not any request's error).
        """
        return self._run_batch(self._loader.get(), requests)

    def _run_batch(
        self, loaded: _LoadedModel, requests: Sequence[GenerationRequest]
    ) -> list[GenerationResult | BackendError]:
        outcomes: list[GenerationResult | BackendError | None] = [None] * len(requests)
        groups: dict[tuple[Any, ...], list[int]] = defaultdict(list)
        for position, request in enumerate(requests):
            groups[_batch_key(request.params)].append(position)
        for positions in groups.values():
            group = [requests[position] for position in positions]
            try:
                results: Sequence[GenerationResult | BackendError] = self._generate_group(loaded, group)
            except BackendError as error:
                results = [error] * len(group)
            except Exception as error:  # a model failure is stored as the request's error
                failure = BackendError("backend", f"{type(error).__name__}: {error}")
                results = [failure] * len(group)
            for position, result in zip(positions, results, strict=True):
                outcomes[position] = result
        return [outcome for outcome in outcomes if outcome is not None]

    def _generate_group(
        self, loaded: _LoadedModel, requests: Sequence[GenerationRequest]
    ) -> list[GenerationResult | BackendError]:
        import torch
        from PIL import Image

        started = time.perf_counter()
        processor, model = loaded.processor, loaded.model
        texts: list[str] = []
        images: list[Any] = []
        for request in requests:
            conversation, image_bytes = to_chat_conversation(request)
            texts.append(
                processor.apply_chat_template(conversation, add_generation_prompt=True, tokenize=False)
            )
            for data in image_bytes:
                with Image.open(io.BytesIO(data)) as image:
                    images.append(image.convert("RGB"))
        inputs = processor(text=texts, images=images or None, return_tensors="pt", padding=True)
        inputs = inputs.to(loaded.device)
        if "pixel_values" in inputs and model.dtype != torch.float32:
            inputs["pixel_values"] = inputs["pixel_values"].to(model.dtype)
        params = requests[0].params
        kwargs = generation_kwargs(params, self.default_max_tokens)
        if params.seed is not None:
            torch.manual_seed(params.seed)
        prompt_length = inputs["input_ids"].shape[1]
        prompt_tokens = inputs["attention_mask"].sum(dim=1).tolist()
        with torch.inference_mode():
            output = model.generate(**inputs, **kwargs)
        latency_s = time.perf_counter() - started
        results: list[GenerationResult | BackendError] = []
        for row, prompt_count in zip(output[:, prompt_length:].tolist(), prompt_tokens, strict=True):
            end = next((i + 1 for i, token in enumerate(row) if token in loaded.eos_ids), None)
            tokens = row if end is None else row[:end]
            text = processor.decode(tokens, skip_special_tokens=True)
            if not text.strip():
                results.append(BackendError("empty", f"the model produced no text ({len(tokens)} tokens)"))
                continue
            results.append(
                GenerationResult(
                    text=text,
                    finish_reason="length" if end is None else "stop",
                    prompt_tokens=int(prompt_count),
                    completion_tokens=len(tokens),
                    latency_s=latency_s,
                )
            )
        return results
