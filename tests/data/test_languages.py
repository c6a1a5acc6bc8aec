from __future__ import annotations

import pytest

from crosseval.data.languages import Language, known_languages, normalize_language


@pytest.mark.parametrize(
    ("raw", "name", "code"),
    [
        ("Persian.", "Persian", "fa"),
        ("Persian", "Persian", "fa"),
        ("Farsi", "Persian", "fa"),
        ("  japanese ", "Japanese", "ja"),
        ("English (Nigeria)", "English", "en"),
        ("Hausa", "Hausa", "ha"),
        ("Amharic", "Amharic", "am"),
        ("Arabic", "Arabic", "ar"),
        ("Arabic (Morocco)", "Arabic", "ar"),
        ("Moroccan Arabic", "Arabic", "ar"),
        ("Mandarin Chinese", "Chinese", "zh"),
        ("Mandarin", "Chinese", "zh"),
        ("Bahasa Indonesia", "Indonesian", "id"),
        ("Spanish", "Spanish", "es"),
        ("Portuguese", "Portuguese", "pt"),
        ("Thai", "Thai", "th"),
        ("The language spoken in Thailand is Thai.", "Thai", "th"),
        ("This query was translated from English into Hausa.", "Hausa", "ha"),
        ("The query is in English.", "English", "en"),
    ],
)
def test_free_text_maps_to_one_canonical_language(raw: str, name: str, code: str) -> None:
    assert normalize_language(raw) == Language(name, code)


def test_unknown_language_keeps_the_stripped_text_without_a_code() -> None:
    language = normalize_language("  Klingon. ")
    assert language == Language("Klingon", None)
    assert not language.known


def test_a_name_inside_another_word_is_not_a_match() -> None:
    # "Thai" must not be found inside "Thailand", nor "Hindi" inside "Hindipur".
    assert normalize_language("Thailand") == Language("Thailand", None)
    assert not normalize_language("Hindipur").known


def test_every_language_of_the_paper_is_known() -> None:
    known = known_languages()
    for name, code in {
        "Japanese": "ja", "Spanish": "es", "French": "fr", "Portuguese": "pt", "English": "en", "Hindi": "hi",
        "Amharic": "am", "Arabic": "ar", "Persian": "fa", "Indonesian": "id", "Chinese": "zh",
        "Russian": "ru", "Thai": "th", "Hausa": "ha",
    }.items():  # fmt: skip
        assert known[name] == code
