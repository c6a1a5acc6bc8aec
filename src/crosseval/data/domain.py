"""The everyday domain of a base item (shopping, meal planning, outdoor activities), derived by a keyword rule.

CROSS has no `domain` field, yet the paper reports its three domains. The rule, documented in
docs/data.md, scores each domain by whole-word keyword hits: a hit in `item` counts 3, a hit in
`orig_query` (or `query` when there is no `orig_query`) or `scene` counts 1. The highest score wins;
a tie (including no hit at all) goes to the subset's default (CASA: shopping, SafeWorld: outdoor
activities) when it is among the tied, else to the first tied domain in the order meal_planning,
outdoor_activities, shopping. `orig_query` and `scene` are shared by every paraphrase and translation
of a base item, so all its samples get one domain. An override file fixes any item by hand.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

from crosseval.data.errors import DataError
from crosseval.data.files import read_file_bytes
from crosseval.data.json_files import MAX_RECORDS_FILE_BYTES, decode_utf8, parse_json
from crosseval.data.records import DOMAINS, Domain, Subset

ITEM_WEIGHT = 3
TEXT_WEIGHT = 1


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


DOMAIN_KEYWORDS: dict[Domain, tuple[str, ...]] = {
    "meal_planning": _words(
        """food foods meal meals dish dishes recipe recipes cook cooking dinner lunch breakfast brunch
        snack snacks menu restaurant eat eating drink drinks beverage beverages wine beer alcohol
        alcoholic liquor sake whisky whiskey vodka pork beef meat jerky chicken fish seafood ham bacon
        sausage sausages cake dessert desserts sweets chocolate chocolates candy fruit fruits vegetable
        vegetables rice noodles soup bread tea coffee barbecue bbq feast potluck ingredients spices
        kitchen chopsticks cutlery halal kosher vegetarian"""
    ),
    "outdoor_activities": _words(
        """hike hiking trek trekking camping camp beach swim swimming park mountain mountains forest lake
        river festival festivals parade temple shrine church mosque pilgrimage tour tourist travel
        travels trip sightseeing photograph photography drone footage outdoor outdoors garden ceremony
        celebration celebrations street fireworks bonfire bonfires picnic safari desert concert
        cemetery cemeteries weather fly"""
    ),
    "shopping": _words(
        """buy buying bought purchase purchasing shop shops shopping store cart order gift gifts present
        souvenir souvenirs outfit clothes clothing attire shirt t-shirt shoes slippers jewelry
        decoration decorations toy toys book novel doll dolls cards app apps tools"""
    ),
}

SUBSET_DEFAULT: dict[Subset, Domain] = {"casa": "shopping", "safeworld": "outdoor_activities"}
TIE_ORDER: tuple[Domain, ...] = ("meal_planning", "outdoor_activities", "shopping")

_WORD = re.compile(r"[a-z]+(?:-[a-z]+)*")


def _hits(text: str | None, keywords: frozenset[str]) -> int:
    if not text:
        return 0
    words = _WORD.findall(text.casefold())
    # Hyphenated words count whole (`t-shirt`) and by their parts (`knee-length` -> `knee`, `length`).
    return sum(1 for word in words for part in {word, *word.split("-")} if part in keywords)


_KEYWORD_SETS: dict[Domain, frozenset[str]] = {d: frozenset(k) for d, k in DOMAIN_KEYWORDS.items()}


def domain_scores(record: Mapping[str, Any]) -> dict[Domain, int]:
    """The keyword score of each domain for one upstream record (see the module docstring)."""
    item = record.get("item") if isinstance(record.get("item"), str) else None
    query = record.get("orig_query") if isinstance(record.get("orig_query"), str) else record.get("query")
    scene = record.get("scene") if isinstance(record.get("scene"), str) else None
    scores: dict[Domain, int] = {}
    for domain in DOMAINS:
        keywords = _KEYWORD_SETS[domain]
        scores[domain] = (
            ITEM_WEIGHT * _hits(item, keywords)
            + TEXT_WEIGHT * _hits(query if isinstance(query, str) else None, keywords)
            + TEXT_WEIGHT * _hits(scene, keywords)
        )
    return scores


def derive_domain(record: Mapping[str, Any], subset: Subset) -> Domain:
    """The domain of the base item `record` belongs to, by the keyword rule."""
    scores = domain_scores(record)
    best = max(scores.values())
    tied = [domain for domain in TIE_ORDER if scores[domain] == best]
    default = SUBSET_DEFAULT[subset]
    return default if default in tied else tied[0]


def _domain_value(value: str, file: str, key: str, line: int | None) -> Domain:
    normalised = value.strip().casefold().replace(" ", "_").replace("-", "_")
    if normalised not in DOMAINS:
        raise DataError(
            file,
            f"unknown domain {value!r} for {key!r}; expected one of {', '.join(DOMAINS)}",
            field="domain",
            line=line,
        )
    return cast(Domain, normalised)


def load_domain_overrides(path: Path) -> dict[str, Domain]:
    """Read an override file: a JSON object `{key: domain}` or a CSV of `key,domain` rows (header optional).

    A key is a sample id, a base id (`casa/Japan_1`) or a bare upstream index (`Japan_1`, every
    subset). Domains may be written `meal planning`, `meal-planning` or `meal_planning`.
    """
    file = str(path)
    try:
        text = decode_utf8(read_file_bytes(path, max_bytes=MAX_RECORDS_FILE_BYTES), file)
    except DataError as exc:
        raise DataError(file, f"cannot read the domain override file: {exc.problem}", line=exc.line) from exc
    overrides: dict[str, Domain] = {}
    if path.suffix.casefold() == ".json" or text.lstrip().startswith("{"):
        data = parse_json(text, file)
        if not isinstance(data, dict):
            raise DataError(file, "a JSON override file must hold one object mapping id or index to domain")
        for key, value in data.items():
            if not isinstance(value, str):
                raise DataError(file, f"the domain of {key!r} must be a string", field="domain")
            overrides[key.strip()] = _domain_value(value, file, key, None)
        return overrides
    for line_number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2:
            raise DataError(
                file, f"expected 2 columns (id or index, domain), found {len(row)}", line=line_number
            )
        key, value = row[0].strip(), row[1].strip()
        if line_number == 1 and value.casefold() == "domain":
            continue
        overrides[key] = _domain_value(value, file, key, line_number)
    return overrides


def override_for(
    overrides: Mapping[str, Domain], *, sample_id: str, base_id: str, index: str
) -> Domain | None:
    """The override that applies to one sample: by sample id, else base id, else bare index."""
    for key in (sample_id, base_id, index):
        if key in overrides:
            return overrides[key]
    return None
