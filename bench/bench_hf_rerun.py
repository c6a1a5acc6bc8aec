"""What does an hf/ command that has nothing to send cost? A rerun of a finished run, and a dry run.

Builds the tiny random LLaVA of tests/helpers/tiny_vlm.py, generates a finished run over the real-schema
records in ../shared/cross-sample (1 round, 4 new tokens), then times, each in a fresh child process:
- `fresh`: the first generation of a new run (the model must load);
- `rerun`: the same command again on the finished run (0 requests to send);
- `dry-run`: `--dry-run` of a new run directory (nothing is sent by definition).
For each it prints the wall time of the child process (interpreter start, imports, data, backend, store
checks) and of `run_generation` inside it, and how many times the weights were loaded
(`from_pretrained` calls). `--slow-load S` makes every weights load sleep S seconds, standing in for a
7B model that takes minutes to load; the rerun and dry run should not pay it.

    .venv/bin/python bench/bench_hf_rerun.py [--slow-load 5] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))
SHARED_SAMPLE = REPO_ROOT.parent / "shared" / "cross-sample"


def child(model: str, run_dir: Path, images: Path, slow_load: float, dry_run: bool) -> dict[str, Any]:
    """One command in this process: build the backend as the CLI does, run generation, count loads."""
    started = time.perf_counter()
    loads = _count_weight_loads(slow_load)

    from crosseval.data.loaders import load_benchmark
    from crosseval.engine.generation import GenerationConfig, run_generation
    from crosseval.models.registry import BackendConfig, create_backend
    from crosseval.models.types import GenerationParams

    files = [SHARED_SAMPLE / "casa" / "english.json", SHARED_SAMPLE / "safeworld" / "multilingual.json"]
    benchmark = load_benchmark(files, images_root=images)
    config = GenerationConfig(
        model=model,
        params=GenerationParams(temperature=0.0, max_tokens=4),
        rounds=1,
        dry_run=dry_run,
        show_progress=False,
    )

    async def generate() -> Any:
        backend = create_backend(BackendConfig(model=model, device="cpu", batch_size=8))
        try:
            return await run_generation(
                benchmark.samples,
                run_dir,
                config,
                images_root=images,
                dataset_files=benchmark.files,
                backend=backend,
            )
        finally:
            await backend.aclose()

    engine_started = time.perf_counter()
    summary = asyncio.run(generate())
    return {
        "engine_s": time.perf_counter() - engine_started,
        "in_process_s": time.perf_counter() - started,
        "sent": summary.sent,
        "skipped": summary.skipped_cached,
        "weight_loads": loads[0],
    }


def _count_weight_loads(slow_load: float) -> list[int]:
    """Counts (and optionally slows) `AutoModelForImageTextToText.from_pretrained`, patched when its module
    is first imported (so a command that never imports transformers pays nothing for the patch)."""
    import importlib.abc
    import importlib.machinery

    counter = [0]

    def patch(module: Any) -> None:
        auto = module.AutoModelForImageTextToText
        original = auto.from_pretrained.__func__

        def from_pretrained(cls: Any, *args: Any, **kwargs: Any) -> Any:
            counter[0] += 1
            time.sleep(slow_load)
            return original(cls, *args, **kwargs)

        auto.from_pretrained = classmethod(from_pretrained)

    class Hook(importlib.abc.MetaPathFinder):
        def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
            if name != "transformers.models.auto.modeling_auto":
                return None
            sys.meta_path.remove(self)
            spec = importlib.machinery.PathFinder.find_spec(name, path)
            if spec is None or spec.loader is None:
                return spec
            loader = spec.loader
            execute = loader.exec_module

            def exec_module(module: Any) -> None:
                execute(module)
                patch(module)

            loader.exec_module = exec_module  # type: ignore[method-assign]
            return spec

    sys.meta_path.insert(0, Hook())
    return counter


def run_child(model: str, run_dir: Path, images: Path, slow_load: float, dry_run: bool) -> dict[str, Any]:
    args = [sys.executable, __file__, "--child", model, str(run_dir), str(images), str(slow_load)]
    started = time.perf_counter()
    done = subprocess.run([*args, *(["--dry-run"] if dry_run else [])], capture_output=True, text=True)
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"child failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_s"] = wall
    return result


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--slow-load", type=float, default=0.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4, metavar=("MODEL", "RUN_DIR", "IMAGES", "SLOW_LOAD"))
    parser.add_argument("--dry-run", action="store_true")
    args = parser.parse_args()
    if args.child:
        model, run_dir, images, slow = args.child
        print(json.dumps(child(model, Path(run_dir), Path(images), float(slow), args.dry_run)))
        return

    from tests.engine.sample_images import write_sample_images
    from tests.helpers.tiny_vlm import build_tiny_llava

    from crosseval.data.loaders import load_benchmark

    work = Path(tempfile.mkdtemp(prefix="bench-hf-rerun-"))
    model = f"hf/{build_tiny_llava(work / 'tiny-llava')}"
    images = work / "images"
    files = [SHARED_SAMPLE / "casa" / "english.json", SHARED_SAMPLE / "safeworld" / "multilingual.json"]
    write_sample_images(load_benchmark(files, images_root=images).samples, images)
    print(
        f"tiny random LLaVA, {len(files)} data files, 1 round, simulated extra load time {args.slow_load} s"
    )
    fresh = run_child(model, work / "run", images, args.slow_load, dry_run=False)
    _print("fresh", [fresh])
    reruns = [run_child(model, work / "run", images, args.slow_load, False) for _ in range(args.repeats)]
    _print("rerun", reruns)
    dry = [run_child(model, work / f"dry-{i}", images, args.slow_load, True) for i in range(args.repeats)]
    _print("dry-run", dry)


def _print(label: str, results: list[dict[str, Any]]) -> None:
    def median(name: str) -> float:
        return statistics.median(r[name] for r in results)

    print(
        f"{label:<8} process {median('process_s'):6.2f} s   backend + run_generation {median('engine_s'):6.2f} s   "
        f"sent {results[0]['sent']:>3}  skipped {results[0]['skipped']:>3}  "
        f"weight loads {results[0]['weight_loads']}  (median of {len(results)})"
    )


if __name__ == "__main__":
    main()
