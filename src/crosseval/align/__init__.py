"""The alignment loop: culturally grounded SFT and DPO data, exports, training and capability checks.

- `importers`, `norms`: read upstream CROSS SFT files, local CVQA-format files and norms files.
- `leakage`: the guard that keeps CROSS evaluation items out of training data.
- `builders` (no model) and `grounded` (teacher + CROSS-Eval judge): write dataset folders (`dataset`).
- `exports`: TRL datasets and OpenAI fine-tuning JSONL.
- `training`: TRL SFT/DPO with LoRA (torch/trl/peft imported lazily).
- `vqa_check`: exact-match accuracy on a general VQA file, for capability retention.
"""
