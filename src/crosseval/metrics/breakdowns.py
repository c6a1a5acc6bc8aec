"""Scores by group: the paper's subset x setting cells, the overall row, and breakdowns.

Breakdowns:
- `country`: the sample's country;
- `language`: the language the model was asked in (`English` for every english-setting sample, so
  the English rows sit beside each translation);
- `domain`: the derived domain label;
- `variant`: the English paraphrase block (1, 2, 3); english setting only, since a multilingual
  record is a translation, not a paraphrase.

`language_pairs` is the paired view the `language` breakdown cannot give: for each translated
language, the English-setting score of the same base items beside the score in that language.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Literal

from crosseval.data.records import SETTINGS, SUBSETS, Sample, Setting
from crosseval.metrics.aggregate import BootstrapSettings, RateSummary, summarize_dimensions
from crosseval.metrics.observations import Observation
from crosseval.vocabulary import ReportedDimension

BreakdownKey = Literal["country", "language", "domain", "variant"]
BREAKDOWN_KEYS: tuple[BreakdownKey, ...] = ("country", "language", "domain", "variant")

DimensionSummaries = dict[ReportedDimension, RateSummary]

_GROUP_OF: dict[BreakdownKey, Callable[[Sample], str | None]] = {
    "country": lambda s: s.country,
    "language": lambda s: s.language,
    "domain": lambda s: s.domain,
    "variant": lambda s: str(s.variant) if s.setting == "english" else None,
}


def parse_breakdown_keys(text: str) -> tuple[BreakdownKey, ...]:
    """`country,language` -> ("country", "language"); raises naming any unknown key."""
    keys: list[BreakdownKey] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        matched = next((k for k in BREAKDOWN_KEYS if k == part), None)
        if matched is None:
            raise ValueError(f"unknown breakdown {part!r}; choose from {', '.join(BREAKDOWN_KEYS)}")
        if matched not in keys:
            keys.append(matched)
    return tuple(keys)


def scores_by_subset_setting(
    samples: Sequence[Sample], observations: Iterable[Observation], settings: BootstrapSettings
) -> dict[str, dict[str, DimensionSummaries]]:
    """subset -> setting -> dimension -> summary, for every (subset, setting) the run has samples in."""
    grouped: dict[tuple[str, str], list[Observation]] = defaultdict(list)
    for o in observations:
        grouped[(o.sample.subset, o.sample.setting)].append(o)
    present = {(s.subset, s.setting) for s in samples}
    result: dict[str, dict[str, DimensionSummaries]] = {}
    for subset in SUBSETS:
        for setting in SETTINGS:
            if (subset, setting) in present:
                cell = summarize_dimensions(grouped.get((subset, setting), []), settings)
                result.setdefault(subset, {})[setting] = cell
    return result


def breakdown(
    key: BreakdownKey, observations: Iterable[Observation], settings: BootstrapSettings
) -> dict[str, DimensionSummaries]:
    """group value -> dimension -> summary, groups sorted by name."""
    group_of = _GROUP_OF[key]
    grouped: dict[str, list[Observation]] = defaultdict(list)
    for o in observations:
        group = group_of(o.sample)
        if group is not None:
            grouped[group].append(o)
    return {group: summarize_dimensions(grouped[group], settings) for group in sorted(grouped)}


def language_pairs(
    samples: Sequence[Sample], observations: Iterable[Observation], settings: BootstrapSettings
) -> dict[str, dict[Setting, DimensionSummaries]]:
    """translated language -> {"english": ..., "multilingual": ...} -> dimension -> summary.

    The `language` breakdown puts every English-setting sample under `English`, which says nothing
    about what translation does. Here an English-setting observation counts under the language its
    base item is translated into in this run, so both rates of a language measure the same norms,
    asked in English and in translation. Languages are those of the run's multilingual samples,
    sorted; a run without any has no pairs.
    """
    translated_into = {s.base_id: s.language for s in samples if s.setting == "multilingual"}
    grouped: dict[tuple[str, Setting], list[Observation]] = defaultdict(list)
    for o in observations:
        language = translated_into.get(o.sample.base_id)
        if language is not None:
            grouped[(language, o.sample.setting)].append(o)
    return {
        language: {
            setting: summarize_dimensions(grouped.get((language, setting), []), settings)
            for setting in SETTINGS
        }
        for language in sorted(set(translated_into.values()))
    }
