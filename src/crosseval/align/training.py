"""Fine-tuning a transformers vision-language model on a dataset folder with TRL: SFT or DPO, LoRA by default.

Defaults follow the paper: one epoch, DPO beta 0.1, an effective batch of 8 (per-device batch x
gradient accumulation). SFT computes the loss on assistant tokens only when the chat template marks
them (`{% generation %}`) or TRL knows a training template for it; otherwise on the whole sequence,
and the training card says which. The output folder (adapter or full model, the processor, and
`training_card.json`) is written beside the target and renamed into place at the end.

torch, transformers, trl and peft are imported only when training starts, so the rest of crosseval
works without them (`pip install 'crosseval[train]'`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from crosseval import __version__
from crosseval.align.dataset import CARD_FILE, read_examples
from crosseval.align.errors import AlignError
from crosseval.align.exports import load_trl_dataset
from crosseval.clock import utc_now
from crosseval.models.quiet_loading import quiet_transformers

TrainMethod = Literal["sft", "dpo"]
TRAINING_CARD = "training_card.json"
_PACKAGES = ("crosseval", "torch", "transformers", "trl", "peft", "datasets", "accelerate")


class TrainSettings(BaseModel):
    """Every training option; a YAML `--config` holds any of them, explicit flags win."""

    model_config = ConfigDict(extra="forbid")

    method: TrainMethod
    base_model: str
    dataset: Path
    output_dir: Path
    lora: bool = True
    lora_r: int = Field(default=16, ge=1)
    lora_alpha: int = Field(default=32, ge=1)
    lora_dropout: float = Field(default=0.05, ge=0.0, lt=1.0)
    lora_target_modules: str | list[str] = "all-linear"
    epochs: float = Field(default=1.0, gt=0)
    learning_rate: float | None = Field(default=None, gt=0)
    """None: 1e-4 with LoRA, 1e-5 for full fine-tuning (SFT); a tenth of that for DPO."""
    per_device_batch_size: int = Field(default=1, ge=1)
    gradient_accumulation_steps: int = Field(default=8, ge=1)
    beta: float = Field(default=0.1, gt=0)
    max_steps: int | None = Field(default=None, ge=1)
    max_length: int | None = Field(default=2048, ge=16)
    seed: int = 0
    device: Literal["auto", "cpu", "cuda"] = "auto"
    bf16: bool | None = None
    """None: bf16 on a GPU that supports it, float32 otherwise."""
    gradient_checkpointing: bool = False
    trust_remote_code: bool = False
    overwrite: bool = False

    @property
    def effective_batch_size(self) -> int:
        return self.per_device_batch_size * self.gradient_accumulation_steps

    def resolved_learning_rate(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        base = 1e-4 if self.lora else 1e-5
        return base / 10 if self.method == "dpo" else base


def load_config_file(path: Path) -> dict[str, Any]:
    """The options of a YAML config file (keys as in `TrainSettings`, dashes allowed)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except OSError as exc:
        raise AlignError(f"{path}: cannot read the config ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise AlignError(f"{path}: invalid YAML ({exc})") from exc
    if not isinstance(data, dict):
        raise AlignError(f"{path}: the config must be a mapping of option: value")
    return {str(key).replace("-", "_"): value for key, value in data.items()}


def make_settings(values: dict[str, Any], source: str = "options") -> TrainSettings:
    try:
        return TrainSettings.model_validate(values)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise AlignError(f"{source}: option '{where}': {error['msg']}") from exc


class TrainingCard(BaseModel):
    method: TrainMethod
    base_model: str
    dataset: str
    data_card_sha256: str
    train_sha256: str
    examples: int
    lora: dict[str, Any] | None
    hyperparameters: dict[str, Any]
    assistant_only_loss: bool | None
    steps: int
    final_loss: float | None
    train_runtime_s: float | None
    created_at: str
    packages: dict[str, str]


def package_versions() -> dict[str, str]:
    versions: dict[str, str] = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            continue
    versions["crosseval"] = __version__
    return versions


def _load_base(settings: TrainSettings) -> tuple[Any, Any]:
    """The model and processor, or a clear error for a model that cannot be trained here."""
    try:
        from transformers import AutoModelForImageTextToText, AutoProcessor, ProcessorMixin
    except ImportError as exc:
        raise AlignError(
            f"training needs torch, transformers, trl and peft ({exc}): pip install 'crosseval[train]'"
        ) from exc
    name = settings.base_model
    try:
        processor = AutoProcessor.from_pretrained(name, trust_remote_code=settings.trust_remote_code)
    except (OSError, ValueError) as exc:
        raise AlignError(f"cannot load the processor of {name!r}: {exc}") from exc
    if not isinstance(processor, ProcessorMixin) or getattr(processor, "image_processor", None) is None:
        raise AlignError(
            f"{name!r} has no multimodal processor (no image processor): training here needs a vision-language model"
        )
    template = processor.chat_template or getattr(processor.tokenizer, "chat_template", None)
    if not template:
        raise AlignError(
            f"{name!r} has no chat template: start from an instruction-tuned model, or add a chat_template.jinja"
        )
    processor.chat_template = template
    try:
        with quiet_transformers():
            model = AutoModelForImageTextToText.from_pretrained(
                name, trust_remote_code=settings.trust_remote_code
            )
    except ValueError as exc:
        raise AlignError(f"{name!r} is not an image-text-to-text model (no vision tower?): {exc}") from exc
    except OSError as exc:
        raise AlignError(f"cannot load the model {name!r}: {exc}") from exc
    if getattr(model.config, "vision_config", None) is None:
        raise AlignError(f"{name!r} has no vision tower (its config has no vision_config)")
    return model, processor


def checkpointing_argument(arguments_class: type[Any]) -> str:
    """The field of `arguments_class` (TrainingArguments) that turns activation checkpointing on.

    transformers renamed `gradient_checkpointing` to `activation_checkpointing` and warns (FutureWarning)
    on the old name; older releases know only the old one.
    """
    names = {f.name for f in dataclasses.fields(arguments_class)}
    return "activation_checkpointing" if "activation_checkpointing" in names else "gradient_checkpointing"


def _assistant_only_supported(processor: Any) -> bool:
    from trl.chat_template_utils import get_training_chat_template, has_generation_markers

    if has_generation_markers(processor.chat_template):
        return True
    try:
        return get_training_chat_template(processor) is not None
    except Exception:
        return False


def _is_out_of_memory(exc: BaseException) -> bool:
    import torch

    if isinstance(exc, torch.OutOfMemoryError | MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def _oom_message(settings: TrainSettings, exc: BaseException) -> str:
    advice = [
        f"lower --batch-size (now {settings.per_device_batch_size}) and raise --grad-accum to keep the effective batch"
    ]
    if not settings.lora:
        advice.append("train a LoRA adapter instead of the full model (drop --no-lora)")
    if settings.max_length is None or settings.max_length > 1024:
        advice.append("lower --max-length")
    if not settings.gradient_checkpointing:
        advice.append("turn on --gradient-checkpointing")
    return f"out of memory while training ({type(exc).__name__}): " + "; ".join(advice)


def _check_prepared(trainer: Any, examples: int, settings: TrainSettings) -> None:
    """TRL drops text examples whose assistant tokens were all cut by truncation; none left is an error."""
    prepared = trainer.train_dataset
    if hasattr(prepared, "__len__") and len(prepared) == 0:
        raise AlignError(
            f"none of the {examples} examples has a target token left after truncation to "
            f"--max-length {settings.max_length}: raise --max-length"
        )


def train(settings: TrainSettings, *, now: str | None = None) -> TrainingCard:
    """Fine-tunes `settings.base_model` on the dataset folder; returns the training card it wrote."""
    card, examples = read_examples(settings.dataset)
    if card.kind != settings.method:
        raise AlignError(
            f"{settings.dataset}: a {card.kind.upper()} dataset cannot train {settings.method.upper()} "
            f"(use `crosseval train {card.kind}`)"
        )
    if not examples:
        raise AlignError(f"{settings.dataset}: the dataset is empty")
    if settings.output_dir.exists() and not settings.overwrite:
        raise AlignError(f"{settings.output_dir}: already exists (pass --overwrite to replace it)")
    dataset = load_trl_dataset(settings.dataset)
    model, processor = _load_base(settings)

    import torch
    from peft import LoraConfig
    from transformers import TrainingArguments

    use_cpu = settings.device == "cpu" or (settings.device == "auto" and not torch.cuda.is_available())
    if settings.device == "cuda" and not torch.cuda.is_available():
        raise AlignError("--device cuda: no CUDA device is available")
    bf16 = settings.bf16 if settings.bf16 is not None else (not use_cpu and torch.cuda.is_bf16_supported())
    peft_config = (
        LoraConfig(
            r=settings.lora_r,
            lora_alpha=settings.lora_alpha,
            lora_dropout=settings.lora_dropout,
            target_modules=settings.lora_target_modules,
            task_type="CAUSAL_LM",
        )
        if settings.lora
        else None
    )
    common: dict[str, Any] = {
        "num_train_epochs": settings.epochs,
        "max_steps": settings.max_steps if settings.max_steps is not None else -1,
        "learning_rate": settings.resolved_learning_rate(),
        "per_device_train_batch_size": settings.per_device_batch_size,
        "gradient_accumulation_steps": settings.gradient_accumulation_steps,
        "max_length": settings.max_length,
        "seed": settings.seed,
        "bf16": bf16,
        "use_cpu": use_cpu,
        "logging_steps": 1,
        "save_strategy": "no",
        "report_to": [],
    }
    common[checkpointing_argument(TrainingArguments)] = settings.gradient_checkpointing
    tmp = settings.output_dir.parent / f".{settings.output_dir.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.parent.mkdir(parents=True, exist_ok=True)
    assistant_only: bool | None = None
    try:
        with quiet_transformers():
            if settings.method == "sft":
                from trl import SFTConfig, SFTTrainer

                assistant_only = _assistant_only_supported(processor)
                sft_args = SFTConfig(output_dir=str(tmp), assistant_only_loss=assistant_only, **common)
                trainer: Any = SFTTrainer(
                    model=model,
                    args=sft_args,
                    train_dataset=dataset,
                    processing_class=processor,
                    peft_config=peft_config,
                )
            else:
                from trl import DPOConfig, DPOTrainer

                dpo_args = DPOConfig(output_dir=str(tmp), beta=settings.beta, **common)
                trainer = DPOTrainer(
                    model=model,
                    args=dpo_args,
                    train_dataset=dataset,
                    processing_class=processor,
                    peft_config=peft_config,
                )
            _check_prepared(trainer, len(dataset), settings)
            try:
                output = trainer.train()
            except Exception as exc:
                if _is_out_of_memory(exc):
                    raise AlignError(_oom_message(settings, exc)) from exc
                raise
        trainer.save_model(str(tmp))
        processor.save_pretrained(str(tmp))
        (tmp / "training_args.bin").unlink(missing_ok=True)
        losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
        data_card = Path(settings.dataset) / CARD_FILE
        result = TrainingCard(
            method=settings.method,
            base_model=settings.base_model,
            dataset=str(settings.dataset),
            data_card_sha256=hashlib.sha256(data_card.read_bytes()).hexdigest(),
            train_sha256=card.train_sha256,
            examples=len(examples),
            lora=(
                {
                    "r": settings.lora_r,
                    "alpha": settings.lora_alpha,
                    "dropout": settings.lora_dropout,
                    "target_modules": settings.lora_target_modules,
                }
                if settings.lora
                else None
            ),
            hyperparameters={
                "epochs": settings.epochs,
                "max_steps": settings.max_steps,
                "learning_rate": settings.resolved_learning_rate(),
                "per_device_batch_size": settings.per_device_batch_size,
                "gradient_accumulation_steps": settings.gradient_accumulation_steps,
                "effective_batch_size": settings.effective_batch_size,
                "beta": settings.beta if settings.method == "dpo" else None,
                "max_length": settings.max_length,
                "seed": settings.seed,
                "bf16": bf16,
                "device": "cpu" if use_cpu else "cuda",
            },
            assistant_only_loss=assistant_only,
            steps=trainer.state.global_step,
            final_loss=float(losses[-1]) if losses else None,
            train_runtime_s=output.metrics.get("train_runtime"),
            created_at=now or utc_now(),
            packages=package_versions(),
        )
        (tmp / TRAINING_CARD).write_text(result.model_dump_json(indent=2) + "\n", encoding="utf-8")
        if settings.output_dir.exists():
            shutil.rmtree(settings.output_dir)
        os.replace(tmp, settings.output_dir)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
