"""Normalise the free-text `language` values of CROSS to one canonical name and an ISO 639 code.

Upstream values are written by hand: `Persian.` with a trailing period, several names for one
language (`Farsi`, `Mandarin`), a region in parentheses (`English (Nigeria)`), even a whole sentence
that contains the name. `normalize_language` maps all of these to one `Language`; a value it cannot
map keeps its stripped text with `code=None`, so `validate` can warn about it and nothing is lost.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache

# Canonical name -> (ISO 639-1 code, or 639-3 when there is no 639-1 code; other names, lower case).
_LANGUAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "English": ("en", ("english",)),
    "Japanese": ("ja", ("japanese", "nihongo")),
    "Spanish": ("es", ("spanish", "castilian", "español", "espanol")),
    "French": ("fr", ("french", "français", "francais")),
    "Portuguese": ("pt", ("portuguese", "português", "portugues")),
    "Hindi": ("hi", ("hindi",)),
    "Amharic": ("am", ("amharic",)),
    "Arabic": ("ar", ("arabic", "darija", "moroccan arabic", "egyptian arabic", "modern standard arabic")),
    "Persian": ("fa", ("persian", "farsi")),
    "Indonesian": ("id", ("indonesian", "bahasa indonesia")),
    "Chinese": ("zh", ("chinese", "mandarin", "mandarin chinese", "simplified chinese", "putonghua")),
    "Russian": ("ru", ("russian",)),
    "Thai": ("th", ("thai",)),
    "Hausa": ("ha", ("hausa",)),
    "Yoruba": ("yo", ("yoruba",)),
    "Igbo": ("ig", ("igbo",)),
    "Swahili": ("sw", ("swahili", "kiswahili")),
    "German": ("de", ("german", "deutsch")),
    "Italian": ("it", ("italian",)),
    "Korean": ("ko", ("korean",)),
    "Vietnamese": ("vi", ("vietnamese",)),
    "Turkish": ("tr", ("turkish",)),
    "Urdu": ("ur", ("urdu",)),
    "Bengali": ("bn", ("bengali", "bangla")),
    "Tamil": ("ta", ("tamil",)),
    "Hebrew": ("he", ("hebrew",)),
    "Greek": ("el", ("greek",)),
    "Dutch": ("nl", ("dutch",)),
    "Polish": ("pl", ("polish",)),
    "Ukrainian": ("uk", ("ukrainian",)),
    "Filipino": ("fil", ("filipino", "tagalog")),
    "Malay": ("ms", ("malay", "bahasa melayu")),
    "Tigrinya": ("ti", ("tigrinya",)),
    "Oromo": ("om", ("oromo", "afaan oromo")),
}

_ALIASES: dict[str, str] = {
    alias: name for name, (_code, aliases) in _LANGUAGES.items() for alias in (*aliases, name.lower())
}
# Longest aliases first, so `mandarin chinese` wins over `chinese` inside a sentence.
_ALIAS_PATTERN = re.compile(
    r"\b(" + "|".join(re.escape(a) for a in sorted(_ALIASES, key=len, reverse=True)) + r")\b",
    re.IGNORECASE,
)
_PARENTHESES = re.compile(r"\s*[\(\[].*?[\)\]]\s*")
_EDGE_PUNCTUATION = " \t\r\n.,;:!?\"'`"


@dataclass(frozen=True)
class Language:
    """A normalised language: `name` is canonical when `code` is known, else the stripped input."""

    name: str
    code: str | None

    @property
    def known(self) -> bool:
        return self.code is not None


ENGLISH = Language("English", "en")


def _collapse(text: str) -> str:
    return " ".join(text.split()).strip(_EDGE_PUNCTUATION).casefold()


@cache
def normalize_language(raw: str) -> Language:
    """Map a free-text language value to a canonical `Language`.

    Tried in order: the whole value (`Persian.`, `Farsi`); the value without parenthesised parts
    (`English (Nigeria)`); the language names found inside it (a sentence). When a sentence names
    several languages, the first one other than English wins, since CROSS translates out of English.
    """
    stripped = " ".join(raw.split()).strip(_EDGE_PUNCTUATION)
    for candidate in (stripped, _PARENTHESES.sub(" ", stripped)):
        name = _ALIASES.get(_collapse(candidate))
        if name is not None:
            return Language(name, _LANGUAGES[name][0])
    found: list[str] = []
    for match in _ALIAS_PATTERN.finditer(stripped):
        name = _ALIASES[match.group(1).casefold()]
        if name not in found:
            found.append(name)
    if found:
        non_english = [name for name in found if name != "English"]
        name = non_english[0] if non_english else found[0]
        return Language(name, _LANGUAGES[name][0])
    return Language(stripped, None)


def known_languages() -> dict[str, str]:
    """Canonical name -> ISO 639 code of every language the normaliser knows."""
    return {name: code for name, (code, _aliases) in _LANGUAGES.items()}
