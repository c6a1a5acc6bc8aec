from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from crosseval.cli import app
from crosseval.data.errors import printable
from tests.cli.test_generate_cmd import table_value
from tests.conftest import REPO_ROOT
from tests.data.bad_inputs import BAD_INPUT_NAMES, BadInput, write_bad_inputs
from tests.helpers.synthetic_cross import write_synthetic_cross

runner = CliRunner()


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cross(tmp_path_factory.mktemp("synthetic"))


def test_stats_json_on_the_synthetic_set(synthetic: Path) -> None:
    result = runner.invoke(app, ["data", "stats", "--data", str(synthetic), "--json"])
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["total"] == 1284
    assert stats["by_subset"] == {"casa": 1104, "safeworld": 180}
    assert stats["by_setting"] == {"english": 963, "multilingual": 321}
    assert stats["by_subset_setting"] == {
        "casa/english": 828,
        "casa/multilingual": 276,
        "safeworld/english": 135,
        "safeworld/multilingual": 45,
    }
    assert stats["by_variant"] == {"1": 276 + 45 + 276 + 45, "2": 276 + 45, "3": 276 + 45}
    assert stats["base_items_by_country"]["Japan"] == {"casa": 23, "safeworld": 4}
    assert stats["base_items_by_country"]["Saudi Arabia"] == {"casa": 26, "safeworld": 0}
    assert stats["by_country"]["China"] == 39 * 4
    assert stats["by_language"]["English"] == 963 + 8
    assert sum(stats["by_domain"].values()) == 1284
    assert [f["records"] for f in stats["files"]] == [828, 276, 135, 45]


def test_stats_on_the_shared_sample_with_filters(cross_sample: Path) -> None:
    result = runner.invoke(
        app,
        [
            "data",
            "stats",
            "--data",
            str(cross_sample),
            "--setting",
            "multilingual",
            "--language",
            "Persian",
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    stats = json.loads(result.stdout)
    assert stats["total"] == 9
    assert stats["by_country"] == {"Iran": 9}


def test_stats_table_names_the_counts(cross_sample: Path) -> None:
    result = runner.invoke(app, ["data", "stats", "--data", str(cross_sample)])
    assert result.exit_code == 0, result.output
    assert "67 samples, 38 base items" in result.stdout
    assert "casa/multilingual" in result.stdout and "Persian" in result.stdout


def test_list_json_has_the_agreed_fields(cross_sample: Path) -> None:
    result = runner.invoke(
        app, ["data", "list", "--data", str(cross_sample), "--subset", "safeworld", "--json"]
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 22
    assert rows[0] == rows[0] | {
        "id": "safeworld/english/1/Japan_1",
        "index": "Japan_1",
        "subset": "safeworld",
        "setting": "english",
        "variant": 1,
        "country": "Japan",
        "language": "English",
        "domain": "shopping",
    }
    assert {"hi", "es", "ar", "ja", "en"} == {row["language_code"] for row in rows}


def test_list_table_shows_whole_ids(synthetic: Path) -> None:
    result = runner.invoke(app, ["data", "list", "--data", str(synthetic), "--id", "casa/Iran_27~2"])
    assert result.exit_code == 0, result.output
    for variant in (1, 2, 3):
        assert f"casa/english/{variant}/Iran_27~2" in result.stdout
    assert "casa/multilingual/1/Iran_27~2" in result.stdout


def test_show_one_sample(cross_sample: Path) -> None:
    result = runner.invoke(app, ["data", "show", "casa/multilingual/1/Iran_11", "--data", str(cross_sample)])
    assert result.exit_code == 0, result.output
    assert "Persian (fa)" in result.stdout
    assert "Wearing bikinis in public is against the modesty laws in Iran." in result.stdout
    assert "language: Persian." in result.stdout  # the raw value is kept


def test_show_json(cross_sample: Path) -> None:
    result = runner.invoke(
        app, ["data", "show", "safeworld/english/1/Egypt_3", "--data", str(cross_sample), "--json"]
    )
    assert result.exit_code == 0, result.output
    sample = json.loads(result.stdout)
    assert sample["image"]["name"].startswith("Tent_maker_in_Elkhiyamia")
    assert sample["raw"]["index"] == "Egypt_3"


def test_show_unknown_id_suggests_close_ones(cross_sample: Path) -> None:
    result = runner.invoke(app, ["data", "show", "casa/english/1/Japan_99", "--data", str(cross_sample)])
    assert result.exit_code == 1
    assert "no sample with id" in result.stderr and "casa/english/1/Japan_9" in result.stderr


def test_show_ambiguous_index_lists_the_ids(cross_sample: Path) -> None:
    result = runner.invoke(app, ["data", "show", "Japan_1", "--data", str(cross_sample)])
    assert result.exit_code == 2
    assert "casa/english/1/Japan_1" in result.stderr and "safeworld/multilingual/1/Japan_1" in result.stderr


def test_a_filter_value_matching_nothing_is_named_on_stderr(cross_sample: Path) -> None:
    result = runner.invoke(
        app,
        ["data", "stats", "--data", str(cross_sample), "--country", "Narnia", "--country", "Iran", "--json"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total"] == 21
    assert (
        "--country 'Narnia' matches no loaded sample; loaded: Egypt, India, Iran, Japan, Mexico"
        in result.stderr
    )


def test_an_empty_selection_says_so_instead_of_printing_empty_tables(cross_sample: Path) -> None:
    for command in ("stats", "list"):
        result = runner.invoke(app, ["data", command, "--data", str(cross_sample), "--variant", "2"])
        assert result.exit_code == 0, result.output
        assert "no samples match the filters" in result.stderr
        assert "By country" not in result.stdout and "Japan" not in result.stdout
    listed = runner.invoke(app, ["data", "list", "--data", str(cross_sample), "--variant", "2", "--json"])
    assert json.loads(listed.stdout) == []


def test_validate_clean_sample(cross_sample: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(cross_sample)])
    assert result.exit_code == 0, result.output
    assert "valid: 0 error(s), 0 warning(s)" in result.stdout
    # The sample has no images folder: the user is told its image URLs went unchecked, and how to check.
    assert "image URLs in" in result.stderr and "were not checked" in result.stderr
    assert "--images DIR" in result.stderr


def test_validate_does_not_claim_unchecked_images_in_a_full_folder(synthetic: Path) -> None:
    result = runner.invoke(app, ["data", "validate", str(synthetic)])
    assert result.exit_code == 0, result.output
    assert "not checked" not in result.stderr


def test_validate_reports_every_bad_record_and_exits_1(cross_sample: Path, tmp_path: Path) -> None:
    records = json.loads((cross_sample / "casa" / "english.json").read_text())[:4]
    del records[1]["violated_norm"]
    records[3]["query"] = 7
    path = tmp_path / "english.json"
    path.write_text(json.dumps(records))
    result = runner.invoke(app, ["data", "validate", str(path), "--json"])
    assert result.exit_code == 1
    problems = json.loads(result.stdout)
    assert [(p["file"], p["position"], p["index"], p["field"]) for p in problems] == [
        (str(path), 1, "Japan_2", "violated_norm"),
        (str(path), 3, "Japan_4", "query"),
    ]
    text = runner.invoke(app, ["data", "validate", str(path)])
    assert text.exit_code == 1
    assert f"{path}, record 1, index 'Japan_2', field 'violated_norm': missing required field" in text.stderr


def test_validate_finds_broken_images_in_a_folder(synthetic: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(synthetic, folder)
    (folder / "images" / "safeworld" / "pexels-user-2002.jpg").write_bytes(b"nope")
    result = runner.invoke(app, ["data", "validate", str(folder)])
    assert result.exit_code == 1
    assert "pexels-user-2002.jpg: not an image" in result.stderr


def test_bad_data_is_a_clear_error_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "english.json"
    path.write_text("[{]")
    result = runner.invoke(app, ["data", "stats", "--data", str(path)])
    assert result.exit_code == 1
    assert "cannot load the benchmark" in result.stderr and f"{path}:1:3" in result.stderr
    assert "Traceback" not in result.output


def test_bad_filter_value_exits_2(cross_sample: Path) -> None:
    result = runner.invoke(app, ["data", "list", "--data", str(cross_sample), "--subset", "cas"])
    assert result.exit_code == 2
    assert "unknown subset cas" in result.stderr


def test_a_failed_upstream_download_points_to_a_local_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    with socket.socket() as probe:  # a port nothing listens on: the connection is refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("CROSSEVAL_UPSTREAM_BASE_URL", f"http://127.0.0.1:{port}")
    result = runner.invoke(app, ["data", "stats"])
    assert result.exit_code == 1
    assert f"http://127.0.0.1:{port}/data/casa/english.json: download failed" in result.stderr
    assert "to read a local copy instead: --data PATH" in result.stderr


# --- input that once gave a traceback: the real CLI names the file and exits non-zero -------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BadInput]:
    return write_bad_inputs(tmp_path_factory.mktemp("bad"))


def _crosseval(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT / "src"), "COLUMNS": "250"}
    command = [sys.executable, "-m", "crosseval", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)


def test_validate_names_every_bad_input_without_a_traceback(bad_inputs: dict[str, BadInput]) -> None:
    cases = list(bad_inputs.values())
    images = cases[0].path.parent / "imgs"
    result = _crosseval("data", "validate", *(str(case.path) for case in cases), "--images", str(images))
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr and "Warning" not in result.stderr
    lines = result.stderr.splitlines()
    for case in cases:
        named = [line for line in lines if line.startswith(f"error: {printable(str(case.path))}")]
        assert any(case.problem in line for line in named), (case, result.stderr)
    assert f"invalid: {len(cases) + 1} error(s)" in result.stderr  # + the duplicate id of the image cases


def test_generate_dry_run_of_a_lone_surrogate_is_a_data_error(bad_inputs: dict[str, BadInput]) -> None:
    case = bad_inputs["surrogate.json"]
    result = _crosseval("generate", "--dry-run", "--model", "openai/gpt-4o-mini", "--data", str(case.path))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert f"error: cannot load the benchmark: {case.path}, record 0, index 'Japan_1'" in result.stderr
    assert case.problem in result.stderr


@pytest.mark.parametrize("name", [n for n in BAD_INPUT_NAMES if not n.startswith("image_")])
def test_generate_dry_run_names_the_bad_data_file(
    bad_inputs: dict[str, BadInput], name: str, tmp_path: Path
) -> None:
    case = bad_inputs[name]
    args = ["generate", "--dry-run", "--model", "openai/gpt-4o-mini", "--data", str(case.path)]
    result = CliRunner().invoke(app, [*args, "--run-dir", str(tmp_path / "run")], catch_exceptions=False)
    assert result.exit_code == 1
    assert f"cannot load the benchmark: {printable(str(case.path))}" in result.stderr
    assert case.problem in result.stderr
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("name", ["image_loop.json", "image_bomb.json"])
def test_generate_dry_run_would_send_nothing_for_a_bad_image(
    bad_inputs: dict[str, BadInput], name: str, tmp_path: Path
) -> None:
    case = bad_inputs[name]
    args = [
        "generate",
        "--dry-run",
        "--model",
        "openai/gpt-4o-mini",
        "--data",
        str(case.path),
        "--rounds",
        "2",
    ]
    images = ["--images", str(case.path.parent / "imgs"), "--run-dir", str(tmp_path / "run")]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = CliRunner().invoke(app, [*args, *images], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert table_value(result.stdout, "would send") == "0"
    assert table_value(result.stdout, "images that cannot be loaded (requests)") == "2"
