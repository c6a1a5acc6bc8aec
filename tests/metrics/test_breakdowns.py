import pytest

from crosseval.metrics.aggregate import BootstrapSettings
from crosseval.metrics.breakdowns import (
    breakdown,
    language_pairs,
    parse_breakdown_keys,
    scores_by_subset_setting,
)
from crosseval.metrics.observations import Observation
from tests.metrics.fixtures import make_sample

SETTINGS = BootstrapSettings(reps=200, seed=0)

EN1 = make_sample("casa", "english", "Japan_1", variant=1)
EN2 = make_sample("casa", "english", "Japan_1", variant=2)
ML = make_sample("casa", "multilingual", "Japan_1")
SW = make_sample("safeworld", "english", "Mexico_7", domain="outdoor_activities")


def _obs() -> list[Observation]:
    return [
        Observation(EN1, 1, "awareness", 1),
        Observation(EN2, 1, "awareness", 0),
        Observation(ML, 1, "awareness", 0),
        Observation(SW, 1, "awareness", 1),
    ]


def test_cells_exist_for_every_subset_and_setting_with_samples() -> None:
    cells = scores_by_subset_setting([EN1, EN2, ML, SW], _obs(), SETTINGS)
    assert list(cells) == ["casa", "safeworld"]
    assert list(cells["casa"]) == ["english", "multilingual"]
    assert list(cells["safeworld"]) == ["english"]
    assert cells["casa"]["english"]["awareness"].mean == 50.0
    assert cells["casa"]["multilingual"]["awareness"].mean == 0.0
    assert cells["safeworld"]["english"]["awareness"].mean == 100.0


def test_a_cell_with_samples_but_no_score_is_shown_empty() -> None:
    cells = scores_by_subset_setting([EN1, ML], [Observation(EN1, 1, "awareness", 1)], SETTINGS)
    assert cells["casa"]["multilingual"]["awareness"].n == 0
    assert cells["casa"]["multilingual"]["awareness"].mean is None


def test_breakdowns_by_country_language_domain() -> None:
    by_country = breakdown("country", _obs(), SETTINGS)
    assert by_country["Japan"]["awareness"].mean == pytest.approx(100 / 3)
    assert by_country["Mexico"]["awareness"].mean == 100.0
    by_language = breakdown("language", _obs(), SETTINGS)
    assert list(by_language) == ["English", "Japanese"]
    assert by_language["English"]["awareness"].n == 3
    by_domain = breakdown("domain", _obs(), SETTINGS)
    assert by_domain["outdoor_activities"]["awareness"].mean == 100.0


def test_variant_breakdown_is_over_english_paraphrases_only() -> None:
    by_variant = breakdown("variant", _obs(), SETTINGS)
    assert list(by_variant) == ["1", "2"]
    assert by_variant["1"]["awareness"].n == 2  # EN1 and SW; the translation is not a paraphrase
    assert by_variant["2"]["awareness"].mean == 0.0


def test_parse_breakdown_keys() -> None:
    assert parse_breakdown_keys("country, variant,country") == ("country", "variant")
    with pytest.raises(ValueError, match="unknown breakdown 'region'"):
        parse_breakdown_keys("country,region")


def test_language_pairs_set_the_english_items_beside_their_own_translation() -> None:
    ja_en = [make_sample("casa", "english", "Japan_1", variant=v) for v in (1, 2, 3)]
    ja_ml = make_sample("casa", "multilingual", "Japan_1")
    fa_en = make_sample("casa", "english", "Iran_5")
    fa_ml = make_sample("casa", "multilingual", "Iran_5")
    only_english = make_sample("safeworld", "english", "Mexico_7")  # no translation: in no pair
    observations = [
        Observation(ja_en[0], 1, "awareness", 1),
        Observation(ja_en[1], 1, "awareness", 1),
        Observation(ja_en[2], 1, "awareness", 0),
        Observation(ja_ml, 1, "awareness", 0),
        Observation(fa_en, 1, "awareness", 1),
        Observation(fa_ml, 1, "awareness", 1),
        Observation(fa_ml, 1, "compliance", 0),
        Observation(only_english, 1, "awareness", 0),
    ]
    samples = [*ja_en, ja_ml, fa_en, fa_ml, only_english]

    pairs = language_pairs(samples, observations, SETTINGS)

    assert list(pairs) == ["Japanese", "Persian"]
    assert pairs["Japanese"]["english"]["awareness"].mean == pytest.approx(200 / 3)
    assert pairs["Japanese"]["english"]["awareness"].n == 3
    assert pairs["Japanese"]["multilingual"]["awareness"].mean == 0.0
    assert pairs["Persian"]["english"]["awareness"].mean == 100.0
    assert pairs["Persian"]["multilingual"]["compliance"].mean == 0.0
    assert pairs["Persian"]["english"]["compliance"].n == 0  # nothing scored is unknown, not 0
    assert pairs["Persian"]["english"]["compliance"].mean is None
    # The plain language breakdown lumps all four English rows (Mexico_7 too) under "English".
    assert breakdown("language", observations, SETTINGS)["English"]["awareness"].n == 5


def test_a_run_without_translations_has_no_language_pairs() -> None:
    english = make_sample("casa", "english", "Japan_1")
    assert language_pairs([english], [Observation(english, 1, "awareness", 1)], SETTINGS) == {}
