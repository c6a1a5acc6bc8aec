"""Does the hf/ backend's micro-batching pay off, and do batched greedy answers match unbatched ones?

Sends the same N image+text requests concurrently to `HFBackend` at several batch sizes and prints,
for each: wall time, requests per second, the batch sizes the micro-batcher formed, and whether every
greedy answer equals the batch-size-1 answer. Without `--model` it builds the tiny random LLaVA of
tests/helpers/tiny_vlm.py (numbers then measure overhead, not a real model).

    .venv/bin/python bench/bench_hf_batching.py [--model DIR_OR_ID] [--device cuda] [--dtype bfloat16]
        [--requests 64] [--batch-sizes 1,8,32] [--max-tokens 32]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import io
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from crosseval.data.prepared_image import PreparedImage  # noqa: E402
from crosseval.models.hf import HFBackend  # noqa: E402
from crosseval.models.types import GenerationParams, GenerationRequest, Message  # noqa: E402


def image(i: int) -> PreparedImage:
    buffer = io.BytesIO()
    Image.new("RGB", (64 + 8 * (i % 5), 48), ((37 * i) % 256, (91 * i) % 256, 128)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return PreparedImage(data, "image/png", hashlib.sha256(data).hexdigest(), 64 + 8 * (i % 5), 48)


QUESTION = "Is the one shown in the image a good gift for my host family in Japan"


def build_requests(count: int, max_tokens: int) -> list[GenerationRequest]:
    params = GenerationParams(temperature=0.0, max_tokens=max_tokens)
    words = QUESTION.split(" ")
    return [
        GenerationRequest((Message("user", " ".join(words[: 3 + i % len(words)]), (image(i),)),), params)
        for i in range(count)
    ]


async def run(backend: HFBackend, requests: list[GenerationRequest]) -> tuple[float, list[str]]:
    started = time.perf_counter()
    results = await asyncio.gather(*(backend.generate(request) for request in requests))
    return time.perf_counter() - started, [result.text for result in results]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", default=None)
    parser.add_argument("--device", default=None)
    parser.add_argument("--dtype", default=None)
    parser.add_argument("--requests", type=int, default=64)
    parser.add_argument("--batch-sizes", default="1,8,32")
    parser.add_argument("--max-tokens", type=int, default=32)
    args = parser.parse_args()

    model = args.model
    if model is None:
        from tests.helpers.tiny_vlm import build_tiny_llava

        model = str(build_tiny_llava(Path(tempfile.mkdtemp(prefix="tiny-llava-"))))
    requests = build_requests(args.requests, args.max_tokens)
    reference: list[str] | None = None
    print(f"model={args.model or 'tiny random LLaVA'} requests={args.requests} max_tokens={args.max_tokens}")
    for batch_size in (int(size) for size in args.batch_sizes.split(",")):
        backend = HFBackend(model, device=args.device, dtype=args.dtype, batch_size=batch_size)
        asyncio.run(run(backend, requests[:2]))  # warm-up: kernels, caches
        backend.batch_sizes.clear()
        seconds, texts = asyncio.run(run(backend, requests))
        reference = reference or texts
        same = sum(a == b for a, b in zip(texts, reference, strict=True))
        sizes = sorted(set(backend.batch_sizes))
        print(
            f"device={backend.device} dtype={backend.dtype} batch_size={batch_size:>3}  {seconds:7.2f} s  "
            f"{len(requests) / seconds:8.1f} req/s  batches={len(backend.batch_sizes)} sizes={sizes}  "
            f"same-as-first-setting={same}/{len(texts)}"
        )


if __name__ == "__main__":
    main()
