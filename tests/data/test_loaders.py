from __future__ import annotations

import json
import shutil
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from crosseval.data.errors import DataError, DataProblem, printable
from crosseval.data.loaders import SampleFilter, files_without_images_root, load_benchmark, validate_files
from crosseval.data.records import Sample
from tests.data.bad_inputs import BAD_INPUT_NAMES, BadInput, write_bad_inputs
from tests.helpers.synthetic_cross import COUNTRY_BASE_COUNTS, write_synthetic_cross


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_cross(tmp_path_factory.mktemp("synthetic"))


def _by_id(samples: list[Sample]) -> dict[str, Sample]:
    return {s.id: s for s in samples}


# --- the exact upstream records in ../shared/cross-sample --------------------------------------------


def test_shared_sample_counts_and_files(cross_sample: Path) -> None:
    benchmark = load_benchmark([cross_sample])
    counts = Counter(f"{s.subset}/{s.setting}" for s in benchmark.samples)
    assert counts == {
        "casa/english": 25,
        "casa/multilingual": 20,
        "safeworld/english": 13,
        "safeworld/multilingual": 9,
    }
    assert [(f.subset, f.setting, f.records) for f in benchmark.files] == [
        ("casa", "english", 25),
        ("casa", "multilingual", 20),
        ("safeworld", "english", 13),
        ("safeworld", "multilingual", 9),
    ]
    assert all(len(f.sha256) == 64 for f in benchmark.files)
    assert len({s.id for s in benchmark.samples}) == 67


def test_shared_sample_ids_fields_and_languages(cross_sample: Path) -> None:
    samples = _by_id(load_benchmark([cross_sample]).samples)
    first = samples["casa/english/1/Japan_1"]
    assert (first.base_id, first.index, first.variant, first.country) == (
        "casa/Japan_1",
        "Japan_1",
        1,
        "Japan",
    )
    assert (first.language, first.language_code) == ("English", "en")
    assert first.norm.startswith("In Japan, it is customary to have separate slippers")
    assert first.image.name == "pexels-kseniachernaya-8054090.jpg"
    assert first.item == "Indoor slippers"
    assert first.position == 0 and first.raw["image_source"].startswith("https://www.pexels.com/")
    persian = samples["casa/multilingual/1/Iran_11"]
    assert persian.raw["language"] == "Persian."
    assert (persian.language, persian.language_code) == ("Persian", "fa")
    languages = Counter(s.language for s in samples.values() if s.setting == "multilingual")
    assert languages == {"Japanese": 15, "Persian": 9, "Spanish": 2, "Arabic": 2, "Hindi": 1}
    safeworld = samples["safeworld/english/1/Egypt_3"]
    assert safeworld.norm == safeworld.raw["violated_specific_norm"]
    assert safeworld.image.name == "Tent_maker_in_Elkhiyamia_street_in_2017,_photo_by_Hatem_Moushir_2.jpg"


def test_multilingual_prompt_is_the_translation_and_keeps_its_own_english_query(cross_sample: Path) -> None:
    samples = _by_id(load_benchmark([cross_sample]).samples)
    english, multilingual = samples["casa/english/1/Iran_6"], samples["casa/multilingual/1/Iran_6"]
    assert english.base_id == multilingual.base_id == "casa/Iran_6"
    assert english.prompt_text == english.raw["query"]
    assert multilingual.prompt_text == multilingual.raw["translated_query"]
    assert multilingual.prompt_text != multilingual.english_query
    # Upstream paraphrased the English source differently for Iran_6 ...
    assert multilingual.english_query != english.english_query
    # ... but not for Japan_1.
    assert (
        samples["casa/multilingual/1/Japan_1"].english_query
        == samples["casa/english/1/Japan_1"].english_query
    )


def test_single_files_infer_subset_and_setting_from_fields(cross_sample: Path, tmp_path: Path) -> None:
    # Copied under neutral names so only the fields can tell.
    for source, target in (("casa/multilingual.json", "a.json"), ("safeworld/english.json", "b.json")):
        shutil.copy(cross_sample / source, tmp_path / target)
    benchmark = load_benchmark([tmp_path / "a.json", tmp_path / "b.json"])
    assert [(f.subset, f.setting) for f in benchmark.files] == [
        ("casa", "multilingual"),
        ("safeworld", "english"),
    ]
    assert len(benchmark) == 20 + 13


def test_jsonl_user_file(cross_sample: Path, tmp_path: Path) -> None:
    records = json.loads((cross_sample / "casa" / "english.json").read_text())[:3]
    path = tmp_path / "mine.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in records) + "\n\n")
    samples = load_benchmark([path]).samples
    assert [s.id for s in samples] == [
        "casa/english/1/Japan_1",
        "casa/english/1/Japan_2",
        "casa/english/1/Japan_3",
    ]


def test_upstream_folder_layout_finds_local_images(synthetic: Path) -> None:
    benchmark = load_benchmark([synthetic])
    assert benchmark.images_root == synthetic / "images"
    sample = _by_id(benchmark.samples)["casa/english/1/Japan_1"]
    assert sample.image.local_path == str(synthetic / "images" / "casa" / sample.image.name)


# --- the full-size synthetic set --------------------------------------------------------------------


def test_synthetic_set_has_the_paper_counts(synthetic: Path) -> None:
    samples = load_benchmark([synthetic]).samples
    assert len(samples) == 1284
    counts = Counter((s.subset, s.setting) for s in samples)
    assert counts == {
        ("casa", "english"): 828,
        ("safeworld", "english"): 135,
        ("casa", "multilingual"): 276,
        ("safeworld", "multilingual"): 45,
    }
    assert len({s.id for s in samples}) == 1284
    assert len({s.base_id for s in samples}) == 321


def test_synthetic_set_per_country_base_items(synthetic: Path) -> None:
    samples = load_benchmark([synthetic]).samples
    base: dict[str, Counter[str]] = {}
    for sample in samples:
        base.setdefault(sample.subset, Counter())
    for base_id, sample in {s.base_id: s for s in samples}.items():
        assert base_id == sample.base_id
        base[sample.subset][sample.country] += 1
    expected_casa = {c.replace("_", " "): n for c, (n, _) in COUNTRY_BASE_COUNTS.items() if n}
    expected_safeworld = {c.replace("_", " "): n for c, (_, n) in COUNTRY_BASE_COUNTS.items() if n}
    assert dict(base["casa"]) == expected_casa
    assert dict(base["safeworld"]) == expected_safeworld
    assert base["casa"]["Saudi Arabia"] == 26


def test_synthetic_paraphrase_blocks_become_variants(synthetic: Path) -> None:
    samples = load_benchmark([synthetic]).samples
    variants = Counter((s.subset, s.setting, s.variant) for s in samples)
    for variant in (1, 2, 3):
        assert variants["casa", "english", variant] == 276
        assert variants["safeworld", "english", variant] == 45
    assert {s.variant for s in samples if s.setting == "multilingual"} == {1}
    by_id = _by_id(samples)
    assert by_id["casa/english/2/Japan_1"].position == 276
    assert by_id["casa/english/3/Japan_1"].raw["query"].startswith("(paraphrase 3)")


def test_duplicated_index_gets_a_suffix_in_every_block(synthetic: Path) -> None:
    samples = load_benchmark([synthetic]).samples
    iran_27 = sorted(s.id for s in samples if s.index == "Iran_27")
    assert iran_27 == [
        "casa/english/1/Iran_27",
        "casa/english/1/Iran_27~2",
        "casa/english/2/Iran_27",
        "casa/english/2/Iran_27~2",
        "casa/english/3/Iran_27",
        "casa/english/3/Iran_27~2",
        "casa/multilingual/1/Iran_27",
        "casa/multilingual/1/Iran_27~2",
    ]
    by_id = _by_id(samples)
    first, second = by_id["casa/english/1/Iran_27"], by_id["casa/english/1/Iran_27~2"]
    assert second.base_id == "casa/Iran_27~2"
    assert first.image.name != second.image.name


def test_synthetic_quirks_survive(synthetic: Path) -> None:
    samples = load_benchmark([synthetic]).samples
    assert any(s.item is None and "item" not in s.raw for s in samples)
    assert {s.raw["image_source"] for s in samples} >= {"self", "self/"}
    assert any(s.image.name == "web-egypt-lantern shop-1.jpg" for s in samples)  # decoded from %20
    multilingual = Counter(s.language for s in samples if s.setting == "multilingual")
    assert multilingual["Hausa"] == 3 and multilingual["English"] == 8 and multilingual["Thai"] == 21
    assert all(s.language_code is not None for s in samples)
    assert {s.domain for s in samples} == {"shopping", "meal_planning", "outdoor_activities"}
    # One domain per base item, shared by its paraphrases and translation.
    domains: dict[str, set[str]] = {}
    for sample in samples:
        domains.setdefault(sample.base_id, set()).add(sample.domain)
    assert all(len(d) == 1 for d in domains.values())


def test_filters(synthetic: Path) -> None:
    everything = load_benchmark([synthetic]).samples
    persian = load_benchmark([synthetic], filters=SampleFilter(languages=["Persian"], limit=5)).samples
    assert [s.id for s in persian] == [s.id for s in everything if s.language == "Persian"][:5]

    def ids(**criteria: Any) -> list[str]:
        return [s.id for s in SampleFilter(**criteria).apply(everything)]

    assert len(ids(subsets=["safeworld"], settings=["english"])) == 135
    assert len(ids(countries=["saudi_arabia"])) == 26 * 4
    assert len(ids(countries=["Saudi Arabia"], variants=[2])) == 26
    assert len(ids(languages=["fa"])) == len(ids(languages=["Farsi"])) == 29
    assert ids(ids=["casa/Japan_1"]) == [f"casa/english/{v}/Japan_1" for v in (1, 2, 3)] + [
        "casa/multilingual/1/Japan_1"
    ]
    assert ids(ids=["casa/english/2/Iran_27~2"]) == ["casa/english/2/Iran_27~2"]
    assert ids(subsets=["safeworld"], limit=2) == [
        "safeworld/english/1/Japan_1",
        "safeworld/english/1/Japan_2",
    ]


def test_filter_values_matching_nothing_are_reported_with_what_was_loaded(cross_sample: Path) -> None:
    filters = SampleFilter(
        countries=["japan", "Narnia"], languages=["fa", "Klingon"], variants=[1, 4], ids=["casa/Japan_99"]
    )
    benchmark = load_benchmark([cross_sample], filters=filters)
    assert benchmark.samples == []  # the criteria combine with AND, and one id matches nothing
    unmatched = {(u.criterion, u.value): u for u in benchmark.unmatched_filters}
    assert list(unmatched) == [
        ("country", "Narnia"),
        ("language", "Klingon"),
        ("variant", "4"),
        ("id", "casa/Japan_99"),
    ]
    assert unmatched["country", "Narnia"].available == ("Egypt", "India", "Iran", "Japan", "Mexico")
    assert "Persian" in unmatched["language", "Klingon"].available
    assert unmatched["variant", "4"].available == ("1",)
    assert "casa/Japan_9" in unmatched["id", "casa/Japan_99"].available
    assert (
        unmatched["id", "casa/Japan_99"]
        .describe()
        .startswith("id 'casa/Japan_99' matches no loaded sample; did you mean")
    )
    assert load_benchmark([cross_sample], filters=SampleFilter(countries=["Iran"])).unmatched_filters == []


def test_filter_rejects_unknown_subset() -> None:
    with pytest.raises(ValueError, match="unknown subset nope"):
        SampleFilter(subsets=["nope"])


def test_domain_overrides_apply_to_the_base_item(synthetic: Path, tmp_path: Path) -> None:
    overrides = tmp_path / "overrides.json"
    overrides.write_text(json.dumps({"casa/Japan_1": "outdoor_activities", "Japan_2": "meal_planning"}))
    samples = load_benchmark([synthetic], domain_overrides=overrides).samples
    assert {s.domain for s in samples if s.base_id == "casa/Japan_1"} == {"outdoor_activities"}
    assert {s.domain for s in samples if s.index == "Japan_2"} == {"meal_planning"}


def test_the_same_data_twice_is_a_duplicate_id_error(cross_sample: Path) -> None:
    path = cross_sample / "casa" / "english.json"
    with pytest.raises(DataError, match="duplicate id 'casa/english/1/Japan_1'"):
        load_benchmark([path, path])


# --- bad input --------------------------------------------------------------------------------------


def _casa_records(cross_sample: Path, count: int = 3) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((cross_sample / "casa" / "english.json").read_text())
    return records[:count]


def _write(path: Path, records: list[Any]) -> Path:
    path.write_text(json.dumps(records, indent=4))
    return path


def _only_error(problems: list[DataProblem]) -> DataProblem:
    errors = [p for p in problems if p.severity == "error"]
    assert len(errors) == 1, errors
    return errors[0]


def test_malformed_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "english.json"
    path.write_text('[\n  {"index": "Japan_1",\n   "query": "x" "oops"}\n]')
    with pytest.raises(DataError) as caught:
        load_benchmark([path])
    assert (caught.value.file, caught.value.line, caught.value.column) == (
        str(path),
        3,
        17,
    )  # the quote opening "oops"
    assert "invalid JSON" in str(caught.value) and str(path) in str(caught.value)


def test_malformed_jsonl_reports_the_line(cross_sample: Path, tmp_path: Path) -> None:
    good = json.dumps(_casa_records(cross_sample, 1)[0])
    path = tmp_path / "user.jsonl"
    path.write_text(f"{good}\n{good[:-5]}\n")
    problem = _only_error(validate_files([path]))
    assert problem.line == 2 and "invalid JSON" in problem.problem


def test_missing_field_names_file_record_index_and_field(cross_sample: Path, tmp_path: Path) -> None:
    records = _casa_records(cross_sample)
    del records[1]["violated_norm"]
    path = _write(tmp_path / "english.json", records)
    with pytest.raises(DataError) as caught:
        load_benchmark([path])
    error = caught.value
    assert (error.file, error.position, error.index, error.field) == (
        str(path),
        1,
        "Japan_2",
        "violated_norm",
    )
    assert error.problem == "missing required field"
    assert "record 1" in str(error) and "'Japan_2'" in str(error)


def test_wrong_type_is_reported(cross_sample: Path, tmp_path: Path) -> None:
    records = _casa_records(cross_sample)
    records[2]["query"] = 42
    records[0]["item"] = ["a", "list"]
    problems = validate_files([_write(tmp_path / "english.json", records)])
    assert {(p.position, p.field, p.problem) for p in problems} == {
        (0, "item", "expected a string or null, found an array"),
        (2, "query", "expected a string, found a number"),
    }


def test_missing_translation_in_a_multilingual_file(cross_sample: Path, tmp_path: Path) -> None:
    records = json.loads((cross_sample / "casa" / "multilingual.json").read_text())[:2]
    del records[0]["translated_query"]
    problem = _only_error(validate_files([_write(tmp_path / "multilingual.json", records)]))
    assert (problem.position, problem.field) == (0, "translated_query")


def test_unknown_subset_layout(tmp_path: Path) -> None:
    path = _write(tmp_path / "mine.json", [{"index": "Japan_1", "query": "q", "file_name": "x.png"}])
    problem = _only_error(validate_files([path]))
    assert "unknown subset layout" in problem.problem


def test_one_object_over_several_lines_is_neither_an_array_nor_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "mine.json"
    path.write_text('{\n  "records": []\n}\n')
    problem = _only_error(validate_files([path])).problem
    assert problem == (
        "expected a JSON array of records or JSONL (one record per line), found an object over several lines"
    )


def test_folder_without_the_upstream_layout(tmp_path: Path) -> None:
    (tmp_path / "stuff").mkdir()
    with pytest.raises(DataError, match="unknown layout"):
        load_benchmark([tmp_path])


def test_missing_path(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no such file or folder"):
        load_benchmark([tmp_path / "nope.json"])


def test_record_that_is_not_an_object(cross_sample: Path, tmp_path: Path) -> None:
    records: list[Any] = _casa_records(cross_sample)
    records.insert(1, "just text")
    problem = _only_error(validate_files([_write(tmp_path / "english.json", records)]))
    assert (problem.position, problem.problem) == (1, "expected a JSON object, found a string")


def test_index_without_country_and_no_country_field(cross_sample: Path, tmp_path: Path) -> None:
    records = _casa_records(cross_sample, 1)
    records[0]["index"] = "Japan"
    problem = _only_error(validate_files([_write(tmp_path / "english.json", records)]))
    assert problem.field == "index" and "cannot derive a country" in problem.problem


def test_image_path_escaping_its_root(cross_sample: Path, tmp_path: Path) -> None:
    records = _casa_records(cross_sample, 2)
    records[0]["file_name"] = "../../etc/passwd"
    records[1]["file_name"] = "https://example.org/images/casa/..%2F..%2Fsecret.png"
    problems = validate_files([_write(tmp_path / "english.json", records)])
    assert [(p.position, p.field) for p in problems] == [(0, "file_name"), (1, "file_name")]
    assert all("escapes" in p.problem for p in problems)


def test_unknown_language_is_a_warning_and_loading_goes_on(cross_sample: Path, tmp_path: Path) -> None:
    records = json.loads((cross_sample / "casa" / "multilingual.json").read_text())[:2]
    records[1]["language"] = "Klingon"
    path = _write(tmp_path / "multilingual.json", records)
    problems = validate_files([path])
    assert [(p.severity, p.position, p.field) for p in problems] == [("warning", 1, "language")]
    samples = load_benchmark([path]).samples
    assert (samples[1].language, samples[1].language_code) == ("Klingon", None)


def test_validate_collects_every_problem(cross_sample: Path, tmp_path: Path) -> None:
    records = _casa_records(cross_sample, 5)
    del records[0]["query"]
    records[3]["file_name"] = None
    problems = validate_files([_write(tmp_path / "english.json", records)])
    assert [(p.position, p.field) for p in problems] == [(0, "query"), (3, "file_name")]


def test_validate_checks_images_under_the_root(synthetic: Path, tmp_path: Path) -> None:
    folder = tmp_path / "copy"
    shutil.copytree(synthetic, folder)
    images = folder / "images" / "casa"
    (images / "amazon-japan-slippers-1.png").unlink()
    (images / "pexels-user-1001.jpg").write_bytes(b"<html>not an image</html>")
    truncated = images / "web-china-clock-1.jpeg"
    truncated.write_bytes(truncated.read_bytes()[:200])
    problems = validate_files([folder])
    assert problems and all(p.severity == "error" and p.field == "file_name" for p in problems)
    text = "\n".join(p.problem for p in problems)
    assert "image 'amazon-japan-slippers-1.png' not found" in text
    assert "pexels-user-1001.jpg: not an image" in text
    assert "web-china-clock-1.jpeg: broken or truncated image" in text
    # Every record that uses a bad image is named once, in all four casa files' blocks.
    bad = {"amazon-japan-slippers-1.png", "pexels-user-1001.jpg", "web-china-clock-1.jpeg"}
    users = {(s.source_file, s.position) for s in load_benchmark([folder]).samples if s.image.name in bad}
    assert {(p.file, p.position) for p in problems} == users
    assert len(problems) == len(users) > 600


def test_validate_checks_local_image_paths_of_a_lone_file_beside_it(
    cross_sample: Path, tmp_path: Path
) -> None:
    records = _casa_records(cross_sample, 3)
    for record, name in zip(records, ("present.png", "absent.png", "pics/absent.jpg"), strict=True):
        record["file_name"] = name
    Image.new("RGB", (8, 8), (200, 30, 30)).save(tmp_path / "present.png")
    path = _write(tmp_path / "english.json", records)
    problems = validate_files([path])
    assert [(p.severity, p.position, p.field) for p in problems] == [
        ("error", 1, "file_name"),
        ("error", 2, "file_name"),
    ]
    assert problems[1].problem == f"image 'pics/absent.jpg' not found under {tmp_path}"
    # Loading resolves the same way: the image that validates is the one a command finds.
    assert [s.image.local_path for s in load_benchmark([path]).samples] == [
        str(tmp_path / "present.png"),
        None,
        None,
    ]
    assert files_without_images_root([path]) == [path]
    assert files_without_images_root([path], images_root=tmp_path) == []


def test_validate_reports_images_over_the_cap(synthetic: Path) -> None:
    from crosseval.data.images import ImageOptions

    problems = validate_files([synthetic], image_options=ImageOptions(max_download_bytes=10))
    assert problems and all("over the size cap" in p.problem for p in problems)


def test_a_clean_synthetic_folder_validates(synthetic: Path) -> None:
    assert validate_files([synthetic]) == []


# --- input that once gave a traceback, or passed unnoticed ---------------------------------------------


@pytest.fixture(scope="module")
def bad_inputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, BadInput]:
    return write_bad_inputs(tmp_path_factory.mktemp("bad"))


@pytest.mark.parametrize("name", BAD_INPUT_NAMES)
def test_bad_input_is_one_error_naming_the_file(bad_inputs: dict[str, BadInput], name: str) -> None:
    case = bad_inputs[name]
    images = case.path.parent / "imgs"
    problem = _only_error(validate_files([case.path], images_root=images))
    assert problem.file == printable(str(case.path))
    assert case.problem in problem.describe()
    problem.describe().encode("utf-8")  # printable: no lone surrogate reaches the terminal
    if not case.image_only:
        with pytest.raises(DataError) as caught:
            load_benchmark([case.path], images_root=images)
        assert caught.value.to_problem() == problem


def test_a_lone_surrogate_skips_its_record_only(cross_sample: Path, tmp_path: Path) -> None:
    records = _casa_records(cross_sample)
    records[0]["query"] = "tea \ud800 set"
    del records[2]["violated_norm"]
    path = _write(tmp_path / "english.json", records)
    problems = validate_files([path])
    assert [(p.position, p.index, p.field) for p in problems] == [
        (0, "Japan_1", "query"),
        (2, records[2]["index"], "violated_norm"),
    ]
    assert "lone surrogate" in problems[0].problem


def test_a_folder_whose_data_file_is_a_link_loop_reports_it(cross_sample: Path, tmp_path: Path) -> None:
    (tmp_path / "data" / "casa").mkdir(parents=True)
    shutil.copy(cross_sample / "casa" / "english.json", tmp_path / "data" / "casa" / "english.json")
    (tmp_path / "data" / "casa" / "multilingual.json").symlink_to("multilingual.json")
    problem = _only_error(validate_files([tmp_path]))
    assert problem.file == str(tmp_path / "data" / "casa" / "multilingual.json")
    assert problem.problem == "a symbolic link loop"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda root: root.write_text("x"), "images folder: a file, not a folder"),
        (lambda root: root.symlink_to(root.name), "images folder: a symbolic link loop"),
        (lambda root: root.symlink_to("gone"), "images folder: a broken symbolic link"),
    ],
)
def test_an_images_root_that_is_not_a_folder(
    cross_sample: Path, tmp_path: Path, make: Callable[[Path], object], message: str
) -> None:
    root = tmp_path / "imgs"
    make(root)
    with pytest.raises(DataError) as caught:
        load_benchmark([cross_sample / "casa" / "english.json"], images_root=root)
    assert (caught.value.file, caught.value.problem) == (str(root), message)
