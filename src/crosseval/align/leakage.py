"""The leakage guard: keeps CROSS evaluation items out of training data.

An item is refused when one of its texts (norm, query, scene) matches a CROSS text after
normalisation, is a near duplicate of one (word-set Jaccard at or above a threshold, 0.8 by
default), or contains a whole CROSS text; or when one of its images has the sha256 of a CROSS image
file or the URL of one. Candidates are found through an index of word trigrams, so checking
thousands of items against the whole benchmark takes well under a second.

Normalisation: Unicode NFKC, case folding, every run of non-word characters to one space. Scripts
written without spaces (Chinese, Japanese, Thai) are compared as whole strings: exact matches are
caught, near duplicates mostly not.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from crosseval.align.records_io import file_sha256
from crosseval.data.records import Sample

MatchKind = Literal["exact", "near", "contains", "sha256", "url"]

DEFAULT_THRESHOLD = 0.8
CONTAINMENT = 0.9
"""Share of a CROSS text's words that must appear in a training text for it to count as contained."""
MIN_NEAR_WORDS = 5
"""Texts shorter than this are only compared exactly: a few shared words prove nothing."""
MIN_CONTAINED_WORDS = 8

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_TEXT_FIELDS = ("violated_norm", "violated_specific_norm", "violated_aug_norm", "orig_query", "scene")


def local_image_sha256(samples: Iterable[Sample]) -> dict[str, str]:
    """sample id -> sha256 of the image file's bytes, for every sample whose image is on disk."""
    hashes: dict[str, str] = {}
    by_path: dict[str, str] = {}
    for sample in samples:
        path = sample.image.local_path
        if path is None:
            continue
        if path not in by_path:
            by_path[path] = file_sha256(Path(path))
        hashes[sample.id] = by_path[path]
    return hashes


def normalize_text(text: str) -> str:
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _trigrams(words: list[str]) -> set[tuple[str, ...]]:
    if len(words) < 3:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


@dataclass(frozen=True)
class LeakageHit:
    """Why an item was refused: which of its fields matched which CROSS item, and how."""

    field: str
    match: MatchKind
    cross_id: str
    similarity: float = 1.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class _IndexedText:
    cross_id: str
    normalized: str
    words: frozenset[str]


@dataclass
class LeakageGuard:
    """An index of the CROSS evaluation set's texts and images, queried item by item."""

    threshold: float = DEFAULT_THRESHOLD
    _texts: list[_IndexedText] = field(default_factory=list)
    _exact: dict[str, str] = field(default_factory=dict)
    _by_trigram: dict[tuple[str, ...], list[int]] = field(default_factory=lambda: defaultdict(list))
    _image_sha256: dict[str, str] = field(default_factory=dict)
    _image_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def from_samples(
        cls,
        samples: Iterable[Sample],
        *,
        image_sha256: Mapping[str, str] | None = None,
        threshold: float = DEFAULT_THRESHOLD,
    ) -> LeakageGuard:
        """Indexes every text a CROSS sample shows a model or a judge, and its image.

        `image_sha256` maps sample id -> sha256 of the image file's bytes, for the images available
        locally (see `local_image_sha256`).
        """
        guard = cls(threshold=threshold)
        hashes = image_sha256 or {}
        for sample in samples:
            texts = {sample.norm, sample.english_query, sample.prompt_text}
            texts.update(v for f in _TEXT_FIELDS if isinstance(v := sample.raw.get(f), str))
            for text in texts:
                guard.add_text(sample.id, text)
            guard.add_image(sample.id, sha256=hashes.get(sample.id), url=sample.image.url)
        return guard

    def add_text(self, cross_id: str, text: str) -> None:
        normalized = normalize_text(text)
        if not normalized or normalized in self._exact:
            return
        self._exact[normalized] = cross_id
        words = normalized.split()
        position = len(self._texts)
        self._texts.append(_IndexedText(cross_id, normalized, frozenset(words)))
        for gram in _trigrams(words):
            self._by_trigram[gram].append(position)

    def add_image(self, cross_id: str, *, sha256: str | None = None, url: str | None = None) -> None:
        if sha256:
            self._image_sha256.setdefault(sha256, cross_id)
        if url:
            self._image_urls.setdefault(url.strip(), cross_id)

    def check_text(self, field_name: str, text: str) -> LeakageHit | None:
        normalized = normalize_text(text)
        if not normalized:
            return None
        if normalized in self._exact:
            return LeakageHit(field_name, "exact", self._exact[normalized])
        words = normalized.split()
        word_set = frozenset(words)
        candidates: set[int] = set()
        for gram in _trigrams(words):
            candidates.update(self._by_trigram.get(gram, ()))
        best: LeakageHit | None = None
        for position in sorted(candidates):
            indexed = self._texts[position]
            shared = len(word_set & indexed.words)
            if len(word_set) >= MIN_NEAR_WORDS and len(indexed.words) >= MIN_NEAR_WORDS:
                jaccard = shared / len(word_set | indexed.words)
                if jaccard >= self.threshold and (best is None or jaccard > best.similarity):
                    best = LeakageHit(field_name, "near", indexed.cross_id, round(jaccard, 4))
            if best is None and len(indexed.words) >= MIN_CONTAINED_WORDS:
                contained = shared / len(indexed.words)
                if contained >= CONTAINMENT:
                    best = LeakageHit(field_name, "contains", indexed.cross_id, round(contained, 4))
        return best

    def check_image(self, *, sha256: str | None = None, url: str | None = None) -> LeakageHit | None:
        if sha256 and sha256 in self._image_sha256:
            return LeakageHit("image", "sha256", self._image_sha256[sha256])
        if url and url.strip() in self._image_urls:
            return LeakageHit("image", "url", self._image_urls[url.strip()])
        return None

    def check(
        self, texts: Mapping[str, str | None], images: Iterable[tuple[str | None, str | None]] = ()
    ) -> LeakageHit | None:
        """The first overlap among an item's texts (`field -> text`) and images (`(sha256, url)` pairs)."""
        for field_name, text in texts.items():
            if text and (hit := self.check_text(field_name, text)) is not None:
                return hit
        for sha256, url in images:
            if (hit := self.check_image(sha256=sha256, url=url)) is not None:
                return hit
        return None

    def summary(self) -> dict[str, Any]:
        """What the guard compared against, for the dataset card."""
        return {
            "cross_texts": len(self._texts),
            "cross_items": len({t.cross_id for t in self._texts}),
            "cross_image_sha256": len(self._image_sha256),
            "cross_image_urls": len(self._image_urls),
            "near_duplicate_jaccard": self.threshold,
            "containment": CONTAINMENT,
        }
