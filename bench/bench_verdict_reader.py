"""How well does the verdict reader read judge replies? Read rate, wrong and invented over the corpus.

Runs the reader of `crosseval.judge.parsing` (through `tests/judge/corpus`, as the protocols call it:
with the asked dimension and the server's finish_reason, first reply only) over the hand-written
judge replies of `tests/judge/corpus/*.jsonl` and prints, overall, per language, per file (model style,
language group, single protocol) and per class:
- read: clear verdicts (expected 0 or 1) read as that digit, and the read rate;
- wrong: clear verdicts read as the other digit;
- invented: replies without a verdict (expected null) read as a score;
and then every reply that was wrong, invented or missed (`--misses`), and the reader's speed.

    .venv/bin/python bench/bench_verdict_reader.py [--misses]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT))

from tests.judge.corpus import Tally, load_corpus, measure, read_reply  # noqa: E402


def tally_line(name: str, tally: Tally) -> str:
    rate = f"{100 * tally.read_rate:6.1f}%" if tally.clear else "      -"
    return f"  {name:32s} {tally.read:4d}/{tally.clear:<4d} {rate}   wrong {tally.wrong}   invented {tally.invented}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--misses", action="store_true", help="list every missed clear verdict too")
    args = parser.parse_args()

    corpus = load_corpus()
    figures = measure(corpus)
    total = figures.total
    print(f"corpus: {figures.replies} replies, {total.clear} with a clear verdict")
    print(tally_line("all", total))
    print("by language:")
    for language, tally in sorted(figures.by_language.items()):
        print(tally_line(language, tally))
    print("by file:")
    for group, tally in sorted(figures.by_group.items()):
        print(tally_line(group, tally))
    print("by class:")
    for kind, tally in sorted(figures.by_kind.items()):
        print(tally_line(kind, tally))

    listed = [("WRONG", figures.wrong), ("INVENTED", figures.invented)]
    if args.misses:
        listed.append(("MISSED", figures.missed))
    for label, rows in listed:
        for entry, parsed in rows:
            print(f"{label} {entry.id} [{entry.kind}] expected {entry.expected}: {parsed}")

    rounds = 5
    started = time.perf_counter()
    for _ in range(rounds):
        for entry in corpus:
            read_reply(entry)
    elapsed = time.perf_counter() - started
    print(
        f"speed: {rounds * len(corpus) / elapsed:.0f} replies/s ({1e3 * elapsed / (rounds * len(corpus)):.2f} ms each)"
    )


if __name__ == "__main__":
    main()
