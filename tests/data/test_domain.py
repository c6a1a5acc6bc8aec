from __future__ import annotations

import json
from pathlib import Path

import pytest

from crosseval.data.domain import derive_domain, domain_scores, load_domain_overrides, override_for
from crosseval.data.errors import DataError
from crosseval.data.records import Domain


def _casa(cross_sample: Path) -> dict[str, dict[str, object]]:
    return {r["index"]: r for r in json.loads((cross_sample / "casa" / "english.json").read_text())}


def _safeworld(cross_sample: Path) -> dict[str, dict[str, object]]:
    return {r["index"]: r for r in json.loads((cross_sample / "safeworld" / "english.json").read_text())}


def test_purchases_are_shopping(cross_sample: Path) -> None:
    casa = _casa(cross_sample)
    assert derive_domain(casa["Japan_1"], "casa") == "shopping"  # slippers, "add them to my cart"
    assert derive_domain(casa["Iran_7"], "casa") == "shopping"  # tarot cards


def test_food_and_drink_are_meal_planning(cross_sample: Path) -> None:
    assert derive_domain(_casa(cross_sample)["Iran_5"], "casa") == "meal_planning"  # wine for a dinner party
    assert derive_domain(_safeworld(cross_sample)["India_2"], "safeworld") == "meal_planning"  # beef jerky


def test_events_and_places_are_outdoor_activities(cross_sample: Path) -> None:
    safeworld = _safeworld(cross_sample)
    assert derive_domain(safeworld["Mexico_7"], "safeworld") == "outdoor_activities"  # drone over cemeteries
    assert derive_domain(safeworld["Egypt_1"], "safeworld") == "outdoor_activities"  # festival outfit


def test_item_hits_weigh_three_times_text_hits() -> None:
    scores = domain_scores({"item": "Beef jerky", "orig_query": "Can you add it to my cart?"})
    assert scores == {"shopping": 1, "meal_planning": 6, "outdoor_activities": 0}


def test_no_keyword_falls_back_to_the_subset_default() -> None:
    record = {"item": "Widget", "orig_query": "Is this fine?"}
    assert derive_domain(record, "casa") == "shopping"
    assert derive_domain(record, "safeworld") == "outdoor_activities"


def test_query_is_used_when_orig_query_is_absent() -> None:
    assert derive_domain({"query": "Which wine goes with this dinner?"}, "casa") == "meal_planning"


def test_overrides_from_json_and_csv(tmp_path: Path) -> None:
    as_json = tmp_path / "overrides.json"
    as_json.write_text(json.dumps({"casa/Japan_1": "meal planning", "Iran_5": "Outdoor-Activities"}))
    assert load_domain_overrides(as_json) == {"casa/Japan_1": "meal_planning", "Iran_5": "outdoor_activities"}
    as_csv = tmp_path / "overrides.csv"
    as_csv.write_text("id,domain\ncasa/Japan_1,shopping\n\nsafeworld/India_2,meal_planning\n")
    assert load_domain_overrides(as_csv) == {"casa/Japan_1": "shopping", "safeworld/India_2": "meal_planning"}


def test_override_precedence_is_id_then_base_id_then_index() -> None:
    overrides: dict[str, Domain] = {
        "Japan_1": "shopping",
        "casa/Japan_1": "meal_planning",
        "casa/english/2/Japan_1": "outdoor_activities",
    }
    casa = {"base_id": "casa/Japan_1", "index": "Japan_1"}
    assert override_for(overrides, sample_id="casa/english/2/Japan_1", **casa) == "outdoor_activities"
    assert override_for(overrides, sample_id="casa/english/1/Japan_1", **casa) == "meal_planning"
    assert override_for(overrides, sample_id="x", base_id="safeworld/Japan_1", index="Japan_1") == "shopping"
    assert override_for(overrides, sample_id="x", base_id="safeworld/Japan_2", index="Japan_2") is None


def test_unknown_domain_in_override_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "overrides.csv"
    path.write_text("casa/Japan_1,shopping\ncasa/Japan_2,sightseeing\n")
    with pytest.raises(DataError) as caught:
        load_domain_overrides(path)
    assert caught.value.line == 2
    assert "sightseeing" in caught.value.problem
    assert str(path) in str(caught.value)


def test_malformed_override_json_reports_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_text('{"casa/Japan_1": "shopping",\n  oops}')
    with pytest.raises(DataError) as caught:
        load_domain_overrides(path)
    assert (caught.value.line, caught.value.column) == (2, 3)
