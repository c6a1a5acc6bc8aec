"""A full-size synthetic CROSS set with the upstream layout, for end-to-end tests and benchmarks.

`write_synthetic_cross(root)` writes `data/{casa,safeworld}/{english,multilingual}.json` and small
real images under `images/<subset>/`: 1,284 records (casa english 3 x 276, safeworld english 3 x 45,
multilingual 276 + 45) with the paper's per-country base counts and the upstream quirks (a duplicated
`Iran_27` in casa, `Saudi_Arabia_*` indexes, gaps in index numbers, records without `item`,
`image_source` as `self`, `self/` or a URL, a file name with commas, one percent-encoded name,
free-text languages such as `Persian.`, `English (Nigeria)`, `Hausa` and a whole sentence).
The texts are made up; only the structure is upstream's.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

IMAGE_URL_BASE = "https://raw.githubusercontent.com/haoyiq114/cross/refs/heads/main/images"

# Country (as in `index`) -> (CASA base items, SafeWorld base items), from the paper's table.
COUNTRY_BASE_COUNTS: dict[str, tuple[int, int]] = {
    "Japan": (23, 4),
    "Argentina": (16, 3),
    "France": (3, 6),
    "Mexico": (13, 8),
    "Brazil": (6, 1),
    "Nigeria": (9, 2),
    "India": (26, 6),
    "Ethiopia": (6, 0),
    "Morocco": (15, 4),
    "Egypt": (17, 7),
    "Iran": (29, 0),
    "Indonesia": (20, 4),
    "Saudi_Arabia": (26, 0),
    "China": (39, 0),
    "Russia": (7, 0),
    "Thailand": (21, 0),
}

# Country -> the free-text language values used in the multilingual files, cycled over its items.
COUNTRY_LANGUAGE_VALUES: dict[str, tuple[str, ...]] = {
    "Japan": ("Japanese",),
    "Argentina": ("Spanish",),
    "France": ("French",),
    "Mexico": ("Spanish",),
    "Brazil": ("Portuguese",),
    "Nigeria": ("English (Nigeria)", "English (Nigeria)", "Hausa"),
    "India": ("Hindi",),
    "Ethiopia": ("Amharic",),
    "Morocco": ("Arabic",),
    "Egypt": ("Arabic",),
    "Iran": ("Persian", "Persian."),
    "Indonesia": ("Indonesian",),
    "Saudi_Arabia": ("Arabic",),
    "China": ("Chinese",),
    "Russia": ("Russian",),
    "Thailand": ("Thai", "The language spoken in Thailand is Thai."),
}

DUPLICATED_CASA_INDEX = "Iran_27"
COMMA_IMAGE_NAME = "Tent_maker_in_Elkhiyamia_street_in_2017,_photo_by_Hatem_Moushir_2.jpg"
PERCENT_IMAGE_NAME = "web-egypt-lantern shop-1.jpg"
"""Stored under this name; its URL spells the space as `%20`."""

_IMAGE_NAMES: dict[str, tuple[str, ...]] = {
    "casa": (
        "amazon-japan-slippers-1.png",
        "pexels-user-1001.jpg",
        "web-china-clock-1.jpeg",
        "amazon-iran-cards-1.png",
    ),
    "safeworld": ("amazon-india-jerky-1.png", "pexels-user-2002.jpg", COMMA_IMAGE_NAME, PERCENT_IMAGE_NAME),
}

# (item, orig_query) templates, one per domain, so the derived domains take all three values.
_THEMES: tuple[tuple[str, str], ...] = (
    ("Gift box", "I want to buy a gift for my colleague in {country}. Can you add it to my cart?"),
    (
        "Beef jerky",
        "I am cooking dinner for my hosts in {country} and want to serve beef. Which recipe fits?",
    ),
    (
        "Hiking boots",
        "I will go hiking in the mountains of {country} next week and visit a temple on the trip.",
    ),
)


def _numbers(count: int) -> list[int]:
    """`count` index numbers with a gap at 8, as upstream numbering has gaps."""
    return [n for n in range(1, count + 2) if n != 8][:count]


def _base_items(subset: str) -> list[tuple[str, str, int]]:
    """(country, index, ordinal) for every base record of `subset`, in file order."""
    column = 0 if subset == "casa" else 1
    items: list[tuple[str, str, int]] = []
    for country, counts in COUNTRY_BASE_COUNTS.items():
        count = counts[column]
        duplicated = subset == "casa" and country == "Iran"
        for number in _numbers(count - 1 if duplicated else count):
            index = f"{country}_{number}"
            items.append((country, index, len(items)))
            if duplicated and index == DUPLICATED_CASA_INDEX:
                items.append((country, index, len(items)))
    return items


def _image_source(ordinal: int, name: str) -> str:
    if name.startswith("pexels-"):
        return f"https://www.pexels.com/photo/something-{ordinal}/"
    return "self/" if ordinal % 5 == 0 else "self"


def _record(subset: str, country: str, index: str, ordinal: int, block: int) -> dict[str, Any]:
    display = country.replace("_", " ")
    item, orig_query = _THEMES[ordinal % len(_THEMES)]
    orig_query = orig_query.format(country=display)
    names = _IMAGE_NAMES[subset]
    name = names[ordinal % len(names)]
    url_name = name.replace(" ", "%20")
    query = (
        f"(paraphrase {block}) In {display}, is the one shown in the image a good choice? [{index}/{ordinal}]"
    )
    norm = f"A synthetic norm of {display} about item {ordinal}."
    record: dict[str, Any] = {"index": index}
    if subset == "casa":
        record |= {"orig_query": orig_query, "violated_norm": norm, "item": item}
    else:
        record |= {
            "topic": f"Topic {ordinal}",
            "root_norm": f"A general norm of {display}.",
            "region_or_race": None if ordinal % 3 == 0 else f"Region {ordinal}",
            "violated_aug_norm": None if ordinal % 3 == 0 else f"A regional norm {ordinal}.",
            "scene": f"During my stay in {display} I planned something for item {ordinal}.",
            "violated_specific_norm": norm,
            "country": display,
            "orig_query": orig_query,
            "item": item,
        }
    if ordinal % 10 == 7:
        del record["item"]
    record |= {
        "image_source": _image_source(ordinal, name),
        "file_name": f"{IMAGE_URL_BASE}/{subset}/{url_name}",
        "query": query,
    }
    return record


def _image_bytes(name: str, shade: int) -> bytes:
    image = Image.new("RGB", (16, 16), (shade, 255 - shade, (shade * 7) % 256))
    out = io.BytesIO()
    image.save(out, format="PNG" if name.endswith(".png") else "JPEG", quality=90)
    return out.getvalue()


def _dump(path: Path, records: list[dict[str, Any]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=4, ensure_ascii=True) + "\n", encoding="utf-8")


def write_synthetic_cross(root: Path, *, with_images: bool = True) -> Path:
    """Write the synthetic set under `root` (created if needed) and return `root`."""
    root.mkdir(parents=True, exist_ok=True)
    for subset in ("casa", "safeworld"):
        base = _base_items(subset)
        english = [_record(subset, c, i, o, block) for block in (1, 2, 3) for c, i, o in base]
        multilingual: list[dict[str, Any]] = []
        language_turns: dict[str, int] = {}
        for country, index, ordinal in base:
            record = _record(subset, country, index, ordinal, 1)
            if ordinal % 4 == 1:
                record["query"] = record["query"].replace("(paraphrase 1)", "(translation source)")
            values = COUNTRY_LANGUAGE_VALUES[country]
            turn = language_turns.get(country, 0)
            language_turns[country] = turn + 1
            record["language"] = values[turn % len(values)]
            record["translated_query"] = f"\u00bf{record['query']}? \u2014 \u65e5\u672c"
            multilingual.append(record)
        _dump(root / "data" / subset / "english.json", english)
        _dump(root / "data" / subset / "multilingual.json", multilingual)
        if with_images:
            folder = root / "images" / subset
            folder.mkdir(parents=True, exist_ok=True)
            for shade, name in enumerate(_IMAGE_NAMES[subset]):
                (folder / name).write_bytes(_image_bytes(name, 40 * shade + 20))
    return root
