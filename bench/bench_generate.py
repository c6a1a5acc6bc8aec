"""Benchmark `crosseval generate` against a loopback OpenAI-compatible server with a fixed latency.

Prints, for the full-size synthetic CROSS set (1,284 samples x 1 round):
- the engine's wall time at --max-connections 64 against a bare asyncio + AsyncOpenAI loop sending the
  same requests (same bodies, same concurrency), measured in the same run; goal: ratio <= 1.25;
- requests per second at several --max-connections;
- the engine process's peak RSS (goal: < 300 MB);
- a rerun of the finished run (goal: 0 requests, < 2 s), inside the engine and as a whole
  `crosseval generate` process (interpreter start, imports, data loading, store checks), plus the
  start-up time of `crosseval --help`.

Each measurement runs in a fresh child process, so peak RSS is that run's alone; the server runs in
this process. The engine's time includes everything `run_generation` does (loading data into the
store, preparing images, computing keys, storing each result); the bare loop's time covers sending only,
with bodies built beforehand, so the comparison is conservative.

    .venv/bin/python bench/bench_generate.py [--latency-ms 50] [--concurrency 8 16 32 64 128] [--rerun-only]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.helpers.openai_server import OpenAIServer, constant  # noqa: E402
from tests.helpers.synthetic_cross import write_synthetic_cross  # noqa: E402

BENCH_KEY = "sk-bench-not-a-secret"


@dataclass(frozen=True)
class Measured:
    wall_s: float
    requests: int
    peak_rss_mb: float
    detail: str = ""


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def engine_run(data_root: str, run_dir: str, base_url: str, max_connections: int) -> Measured:
    """One `run_generation` over the whole set, in this (child) process."""
    os.environ["OPENAI_API_KEY"] = BENCH_KEY
    from crosseval.data.loaders import load_benchmark
    from crosseval.engine.generation import GenerationConfig, run_generation

    benchmark = load_benchmark([Path(data_root)])
    config = GenerationConfig(
        model="openai/bench-model",
        base_url=base_url,
        rounds=1,
        max_connections=max_connections,
        show_progress=False,
    )
    started = time.perf_counter()
    summary = asyncio.run(
        run_generation(
            benchmark.samples,
            Path(run_dir),
            config,
            images_root=benchmark.images_root,
            dataset_files=benchmark.files,
        )
    )
    wall = time.perf_counter() - started
    detail = f"ok={summary.ok} errors={summary.error_count} skipped={summary.skipped_cached}"
    return Measured(wall, summary.sent, _peak_rss_mb(), detail)


def bare_run(data_root: str, base_url: str, concurrency: int) -> Measured:
    """The floor: the same requests through AsyncOpenAI and a semaphore, nothing stored, bodies prebuilt."""
    import httpx2
    import openai

    from crosseval.data.images import ImageResolver
    from crosseval.data.loaders import load_benchmark

    benchmark = load_benchmark([Path(data_root)])
    resolver = ImageResolver(benchmark.images_root)
    uris: dict[str, str] = {}
    bodies: list[dict[str, Any]] = []
    for sample in benchmark.samples:
        image = resolver.load(sample)
        uri = uris.setdefault(
            image.sha256, f"data:{image.mime};base64,{base64.b64encode(image.data).decode()}"
        )
        content = [
            {"type": "image_url", "image_url": {"url": uri}},
            {"type": "text", "text": sample.prompt_text},
        ]
        bodies.append({"model": "bench-model", "messages": [{"role": "user", "content": content}]})

    async def send_all() -> float:
        client = openai.AsyncOpenAI(
            api_key=BENCH_KEY,
            base_url=base_url,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(
                limits=httpx2.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
            ),
        )
        gate = asyncio.Semaphore(concurrency)

        async def one(body: dict[str, Any]) -> str | None:
            async with gate:
                completion = await client.chat.completions.create(**body)
                return completion.choices[0].message.content

        started = time.perf_counter()
        await asyncio.gather(*(one(body) for body in bodies))
        wall = time.perf_counter() - started
        await client.close()
        return wall

    wall = asyncio.run(send_all())
    return Measured(wall, len(bodies), _peak_rss_mb())


def in_child(function: Any, *args: Any) -> Measured:
    with ProcessPoolExecutor(max_workers=1, mp_context=get_context("spawn")) as pool:
        result: Measured = pool.submit(function, *args).result()
        return result


def median_run(runs: list[Measured]) -> Measured:
    return sorted(runs, key=lambda m: m.wall_s)[len(runs) // 2]


def _crosseval_command() -> list[str]:
    """The installed `crosseval` script beside this interpreter, else `python -m crosseval`."""
    script = Path(sys.executable).with_name("crosseval")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "crosseval"]


def timed_process(arguments: list[str], env: dict[str, str] | None = None) -> float:
    """Wall time of one whole `crosseval` process (interpreter start and imports included)."""
    started = time.perf_counter()
    subprocess.run([*_crosseval_command(), *arguments], env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def cli_rerun(data_root: Path, run_dir: Path, base_url: str) -> float:
    """Wall time of a whole `crosseval generate` process resuming a finished run."""
    arguments = ["generate", "--model", "openai/bench-model", "--data", str(data_root)]
    arguments += ["--run-dir", str(run_dir), "--base-url", base_url, "--rounds", "1"]
    arguments += ["--max-connections", "64", "--no-progress"]
    return timed_process(arguments, env={**os.environ, "OPENAI_API_KEY": BENCH_KEY})


def median(values: list[float]) -> float:
    return sorted(values)[len(values) // 2]


def report_rerun(server: OpenAIServer, data_root: Path, run_dir: Path, repeat: int) -> None:
    """The rerun goal: a finished 1,284-sample run sends 0 requests and ends in under 2 s, as a whole process."""
    print(f"\n== rerun of the finished run (median of {repeat}) ==")
    count = server.count
    engine = median_run(
        [in_child(engine_run, str(data_root), str(run_dir), server.base_url, 64) for _ in range(repeat)]
    )
    engine_sent = server.count - count
    count = server.count
    process_s = median([cli_rerun(data_root, run_dir, server.base_url) for _ in range(repeat)])
    process_sent = server.count - count
    help_s = median([timed_process(["--help"]) for _ in range(repeat)])
    sent = engine_sent + process_sent
    print(
        f"requests sent   {sent} (engine {engine_sent}, CLI {process_sent}; goal 0: {'met' if sent == 0 else 'MISSED'})"
    )
    print(f"engine rerun    {engine.wall_s:6.2f} s  (run_generation alone; {engine.detail})")
    print(
        f"CLI rerun       {process_s:6.2f} s  (whole `crosseval generate` process; goal < 2 s: "
        f"{'met' if process_s < 2 else 'MISSED'})"
    )
    print(f"crosseval --help {help_s:5.2f} s  (start-up: interpreter, CLI imports, command registration)")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 16, 32, 64, 128])
    parser.add_argument(
        "--repeat", type=int, default=3, help="Interleaved engine/bare pairs; medians reported."
    )
    parser.add_argument(
        "--rerun-only", action="store_true", help="Generate the run once, then measure only its rerun."
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="bench-generate-") as tmp:
        root = Path(tmp)
        data_root = write_synthetic_cross(root / "cross")
        with OpenAIServer(constant("a benchmark answer", delay_s=args.latency_ms / 1000)) as server:
            print(
                f"loopback server latency {args.latency_ms:.0f} ms; 1,284 samples x 1 round; CPU cores {os.cpu_count()}"
            )
            if args.rerun_only:
                in_child(engine_run, str(data_root), str(root / "run-64-0"), server.base_url, 64)
                report_rerun(server, data_root, root / "run-64-0", args.repeat)
                return

            bares: list[Measured] = []
            engines: list[Measured] = []
            for attempt in range(args.repeat):  # interleaved, so load from other processes hits both alike
                count = server.count
                bares.append(in_child(bare_run, str(data_root), server.base_url, 64))
                assert server.count - count == bares[-1].requests
                count = server.count
                run_dir = str(root / f"run-64-{attempt}")
                engines.append(in_child(engine_run, str(data_root), run_dir, server.base_url, 64))
                assert server.count - count == engines[-1].requests, (
                    "the engine sent a different number of requests"
                )
            bare = median_run(bares)
            engine = median_run(engines)
            print(f"\n== engine vs bare AsyncOpenAI loop, max-connections 64 (median of {args.repeat}) ==")
            print("bare loop runs  " + "  ".join(f"{m.wall_s:.2f}" for m in bares) + " s")
            print("engine runs     " + "  ".join(f"{m.wall_s:.2f}" for m in engines) + " s")
            print(
                f"bare loop      {bare.wall_s:6.2f} s  {bare.requests / bare.wall_s:7.1f} req/s  "
                f"peak RSS {bare.peak_rss_mb:5.0f} MB"
            )
            print(
                f"engine         {engine.wall_s:6.2f} s  {engine.requests / engine.wall_s:7.1f} req/s  "
                f"peak RSS {engine.peak_rss_mb:5.0f} MB  ({engine.detail})"
            )
            ratio = engine.wall_s / bare.wall_s
            print(f"ratio          {ratio:6.2f}  (goal <= 1.25: {'met' if ratio <= 1.25 else 'MISSED'})")
            peak = max(m.peak_rss_mb for m in engines)
            print(f"peak RSS       {peak:6.0f} MB (goal < 300 MB: {'met' if peak < 300 else 'MISSED'})")

            print("\n== throughput by --max-connections (engine, fresh run each) ==")
            floor = 1284 * args.latency_ms / 1000
            for concurrency in args.concurrency:
                measured = in_child(
                    engine_run,
                    str(data_root),
                    str(root / f"run-c{concurrency}"),
                    server.base_url,
                    concurrency,
                )
                print(
                    f"{concurrency:4d}  {measured.wall_s:6.2f} s  {measured.requests / measured.wall_s:7.1f} req/s  "
                    f"(latency floor {floor / concurrency:5.2f} s)  peak RSS {measured.peak_rss_mb:4.0f} MB"
                )

            report_rerun(server, data_root, root / "run-64-0", args.repeat)


if __name__ == "__main__":
    main()
