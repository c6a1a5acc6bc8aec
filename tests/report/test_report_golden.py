"""`report --json`, `compare --json` and `agreement --json` keep their schema: a golden check.

Deterministic runs built with `tests.helpers.fake_run` (hand-made samples of both subsets and
settings, failed generations, every verdict status, missing verdicts, two judge configurations)
are reported through the real CLI and compared with `tests/report/golden/*.json`, which the code
before the typed report model wrote. Keys, their order and every number must match; only `run_dir`
(a temporary path) is left out, and keys added since are listed in `ADDED_KEYS` and checked apart.

Regenerate (only when a schema change is intended): `python -m tests.report.test_report_golden`.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from crosseval.cli import app
from crosseval.data.records import Domain, Sample
from crosseval.engine.store import Dimension
from tests.helpers.fake_run import FakeJudge, ScoreOrStatus, make_sample, write_fake_run

GOLDEN_DIR = Path(__file__).parent / "golden"
REPS = "200"

PAPER = FakeJudge("judge-a|paper|0001", "openai/judge-1", "paper")
SINGLE = FakeJudge("judge-a|single|0001", "openai/judge-1", "single")

ADDED_KEYS: dict[str, tuple[str, ...]] = {"run": ("unscored_by_language",)}
"""Keys a report run gained after the golden files were written (additive, never renamed)."""


def golden_samples() -> list[Sample]:
    """Both subsets and settings, three paraphrases of some items, translations of others."""
    samples: list[Sample] = []
    for subset, items in (("casa", ("Japan_1", "Iran_1", "India_1")), ("safeworld", ("Mexico_1", "Egypt_1"))):
        for index in items:
            domain: Domain = "meal_planning" if index.startswith(("Japan", "Mexico")) else "shopping"
            variants = (1, 2, 3) if index.endswith("_1") and index[0] in "JM" else (1,)
            samples += [make_sample(subset, "english", index, variant=v, domain=domain) for v in variants]
            if index.startswith(("Japan", "Iran", "Mexico")):
                samples.append(make_sample(subset, "multilingual", index, domain=domain))
    return samples


def _digest(*parts: object) -> int:
    return int(hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest(), 16)


def _outcome(judge: FakeJudge) -> Any:
    def outcome(sample: Sample, round_: int, dimension: Dimension) -> ScoreOrStatus:
        h = _digest(judge.config, sample.id, round_, dimension) % 23
        if h == 0:
            return "parse_error"
        if h == 1:
            return "api_error"
        if h == 2:
            return "refused"
        if h == 3:
            return None
        return h % 2

    return outcome


def _failed(sample: Sample, round_: int) -> bool:
    return _digest("failed", sample.id, round_) % 9 == 0


def write_golden_runs(root: Path) -> dict[str, Path]:
    """`one`: one judge configuration, with a manifest; `two`: the same responses judged two ways."""
    samples = golden_samples()
    one = root / "one"
    two = root / "two"
    for run_dir, judges in ((one, (PAPER,)), (two, (PAPER, SINGLE))):
        for i, judge in enumerate(judges):
            write_fake_run(
                run_dir,
                samples,
                _outcome(judge),
                model="openai/model-a" if run_dir == one else "openai/model-b",
                rounds=(1, 2),
                failed=_failed,
                judge=judge,
                verdict_time=f"2026-01-0{i + 1}T00:00:00+00:00",
            )
    manifest = {
        "generation": {"model": {"provider": "openai", "model": "model-a"}, "rounds": 2},
        "judges": {PAPER.config: {"model": PAPER.model, "protocol": PAPER.protocol, "template_hash": "t"}},
    }
    (one / "manifest.json").write_text(json.dumps(manifest))
    return {"one": one, "two": two}


def golden_commands(runs: dict[str, Path]) -> dict[str, list[str]]:
    """Golden file name -> the CLI arguments whose JSON it holds."""
    one, two = str(runs["one"]), str(runs["two"])
    return {
        "report-one-config": ["report", one, "--json", "--bootstrap-reps", REPS],
        "report-requested-config": [
            "report",
            one,
            two,
            "--json",
            "--bootstrap-reps",
            REPS,
            "--judge-config",
            PAPER.config,
        ],
        "compare": ["compare", one, two, "--json", "--bootstrap-reps", REPS, "--judge-config", PAPER.config],
        "agreement": [
            "agreement",
            two,
            "--json",
            "--judge-config",
            PAPER.config,
            "--judge-config",
            SINGLE.config,
        ],
    }


def cli_json(args: list[str]) -> Any:
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def without_run_dirs(value: Any) -> Any:
    """`value` with every `run_dir` key dropped, at any depth (they hold temporary paths)."""
    if isinstance(value, dict):
        return {k: without_run_dirs(v) for k, v in value.items() if k != "run_dir"}
    if isinstance(value, list):
        return [without_run_dirs(v) for v in value]
    return value


def normalised(name: str, output: Any) -> Any:
    """The part of a command's JSON the golden file holds: no `run_dir`, no key added since."""
    output = without_run_dirs(output)
    if name.startswith("report"):
        runs = [{k: v for k, v in run.items() if k not in ADDED_KEYS["run"]} for run in output["runs"]]
        output = {**output, "runs": runs}
    return output


def _as_text(value: Any) -> str:
    """Keys in order and numbers as written: comparing text also compares key order."""
    return json.dumps(value, indent=2, ensure_ascii=False)


def test_cli_json_matches_the_golden_files(tmp_path: Path) -> None:
    runs = write_golden_runs(tmp_path)
    for name, args in golden_commands(runs).items():
        actual = normalised(name, cli_json(args))
        golden = json.loads((GOLDEN_DIR / f"{name}.json").read_text(encoding="utf-8"))
        assert _as_text(actual) == _as_text(golden), name


def test_the_added_keys_hold_what_they_say(tmp_path: Path) -> None:
    args = golden_commands(write_golden_runs(tmp_path))["report-one-config"]
    (run,) = cli_json(args)["runs"]
    by_language = run["unscored_by_language"]
    assert list(by_language) == ["English", "Japanese", "Persian", "Spanish"]
    totals = {
        status: sum(counts[status] for counts in by_language.values())
        for status in run["unscored"]["verdicts"]
    }
    assert totals == run["unscored"]["verdicts"]  # every scored or unscored verdict, split by language


def _write_golden_files() -> None:
    GOLDEN_DIR.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        for name, args in golden_commands(write_golden_runs(Path(tmp))).items():
            text = _as_text(normalised(name, cli_json(args))) + "\n"
            (GOLDEN_DIR / f"{name}.json").write_text(text, encoding="utf-8")
            print(f"wrote {GOLDEN_DIR / name}.json", file=sys.stderr)


if __name__ == "__main__":
    _write_golden_files()
