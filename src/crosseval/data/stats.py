"""Counts over a list of samples: the figures `crosseval data stats` prints and reports reuse."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

from crosseval.data.records import SUBSETS, Sample


def _ordered(counter: Counter[str]) -> dict[str, int]:
    """Largest count first, then by name, so tables read top-down."""
    return dict(sorted(counter.items(), key=lambda kv: (-kv[1], kv[0])))


def count_samples(samples: Sequence[Sample]) -> dict[str, Any]:
    """Sample counts by subset, setting, subset/setting, variant, country, language and domain.

    `base_items_by_country` counts distinct base items (not samples) per country and subset, which
    is the paper's per-country table (Japan 23 + 4, ...).
    """
    by_variant = Counter(sample.variant for sample in samples)
    base: dict[str, Sample] = {}
    for sample in samples:
        base.setdefault(sample.base_id, sample)
    per_country: dict[str, dict[str, int]] = {}
    for sample in base.values():
        row = per_country.setdefault(sample.country, dict.fromkeys(SUBSETS, 0))
        row[sample.subset] += 1
    return {
        "total": len(samples),
        "base_items": len(base),
        "by_subset": _ordered(Counter(s.subset for s in samples)),
        "by_setting": _ordered(Counter(s.setting for s in samples)),
        "by_subset_setting": _ordered(Counter(f"{s.subset}/{s.setting}" for s in samples)),
        "by_variant": {str(v): by_variant[v] for v in sorted(by_variant)},
        "by_country": _ordered(Counter(s.country for s in samples)),
        "by_language": _ordered(Counter(s.language for s in samples)),
        "by_domain": _ordered(Counter(s.domain for s in samples)),
        "base_items_by_country": dict(
            sorted(per_country.items(), key=lambda kv: (-sum(kv[1].values()), kv[0]))
        ),
        "base_items_by_domain": _ordered(Counter(s.domain for s in base.values())),
    }


def sample_summary(sample: Sample) -> dict[str, Any]:
    """The fields `crosseval data list --json` prints for one sample."""
    return {
        "id": sample.id,
        "base_id": sample.base_id,
        "index": sample.index,
        "subset": sample.subset,
        "setting": sample.setting,
        "variant": sample.variant,
        "country": sample.country,
        "language": sample.language,
        "language_code": sample.language_code,
        "domain": sample.domain,
        "item": sample.item,
        "image": sample.image.name,
    }


def summaries(samples: Iterable[Sample]) -> list[dict[str, Any]]:
    return [sample_summary(sample) for sample in samples]
