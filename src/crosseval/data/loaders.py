"""Load CROSS (or user files in its schema) into typed `Sample`s, and validate files without loading.

Sources: the upstream release (downloaded and cached, see `upstream.py`), a folder with the upstream
layout (`data/<subset>/<setting>.json` and `images/<subset>/...`, or `<subset>/<setting>.json` directly
inside the folder), or single data files (a JSON array or JSONL) whose subset and setting are read from
their fields and path.

Ids. In an english file the same base items appear in three paraphrase blocks; a new block starts when
the `index` that opened the current block appears again, and `variant` is the block number.
Multilingual files are one block (variant 1). An `index` repeated inside one block (casa `Iran_27`)
gets `~2`, `~3`, ... in its id and base id, so every sample has a unique, stable id.
"""

from __future__ import annotations

import difflib
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any, cast
from urllib.parse import unquote, urlsplit

from crosseval.data.domain import derive_domain, load_domain_overrides, override_for
from crosseval.data.errors import DataError, DataProblem
from crosseval.data.files import file_problem
from crosseval.data.images import ImageOptions, check_image_file
from crosseval.data.json_files import JsonRecord, has_lone_surrogate, json_type_name, read_records_file
from crosseval.data.languages import ENGLISH, normalize_language
from crosseval.data.records import SETTINGS, SUBSETS, Domain, ImageRef, Sample, Setting, Subset
from crosseval.data.upstream import ensure_upstream

NORM_FIELD: dict[Subset, str] = {"casa": "violated_norm", "safeworld": "violated_specific_norm"}
REQUIRED_FIELDS: tuple[str, ...] = ("index", "file_name", "query")
MULTILINGUAL_FIELDS: tuple[str, ...] = ("language", "translated_query")
OPTIONAL_TEXT_FIELDS: tuple[str, ...] = (
    "item",
    "orig_query",
    "image_source",
    "country",
    "topic",
    "root_norm",
    "region_or_race",
    "violated_aug_norm",
    "scene",
)
DATA_SUFFIXES: tuple[str, ...] = (".json", ".jsonl")
NOT_UTF8_NAME = "the path is not UTF-8 text (it could not be recorded in a run): rename it"

logger = logging.getLogger(__name__)

_INDEX_NUMBER = re.compile(r"^(?P<prefix>.+)_(?P<number>[^_]+)$")


@dataclass(frozen=True)
class DataFileInfo:
    """One data file that went into a `Benchmark`: what the run manifest records about its input."""

    path: Path
    subset: Subset
    setting: Setting
    sha256: str
    records: int


@dataclass(frozen=True)
class UnmatchedFilter:
    """A filter value that matches no loaded sample, with what it could have been (for a typo hint)."""

    criterion: str
    """`subset`, `setting`, `country`, `language`, `variant` or `id`."""
    value: str
    available: tuple[str, ...]
    """The values loaded for this criterion (for `id`: the closest ids only)."""

    def describe(self) -> str:
        if self.criterion == "id":
            hint = f"; did you mean {', '.join(self.available)}?" if self.available else ""
        else:
            hint = f"; loaded: {', '.join(self.available)}" if self.available else ""
        return f"{self.criterion} {self.value!r} matches no loaded sample{hint}"


@dataclass
class Benchmark:
    """The loaded samples (in file order), the files they came from, and the images root in use."""

    samples: list[Sample]
    files: list[DataFileInfo]
    images_root: Path | None
    unmatched_filters: list[UnmatchedFilter] = field(default_factory=list)
    """Filter values that matched none of the loaded samples (usually a typo), in the order given."""

    def __len__(self) -> int:
        return len(self.samples)

    def get(self, sample_id: str) -> Sample:
        """The sample with this id; `KeyError` when there is none."""
        for sample in self.samples:
            if sample.id == sample_id:
                return sample
        raise KeyError(sample_id)


def _country_key(value: str) -> str:
    return " ".join(value.replace("_", " ").split()).casefold()


@dataclass(frozen=True)
class SampleFilter:
    """Which samples to keep. Each given criterion must match; `limit` then keeps the first N in file order.

    `countries` match with or without underscores and in any case (`saudi_arabia` = `Saudi Arabia`);
    `languages` match a canonical name, any name the normaliser knows (`Farsi`) or an ISO code;
    `ids` match a sample id or a base id (which selects all paraphrases and translations of an item).
    """

    subsets: Sequence[str] | None = None
    settings: Sequence[str] | None = None
    countries: Sequence[str] | None = None
    languages: Sequence[str] | None = None
    variants: Sequence[int] | None = None
    ids: Sequence[str] | None = None
    limit: int | None = None
    _keys: dict[str, frozenset[Any]] = field(default_factory=dict, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name, allowed in (("subsets", SUBSETS), ("settings", SETTINGS)):
            values = getattr(self, name)
            unknown = sorted({v for v in values or () if v.casefold() not in allowed})
            if unknown:
                raise ValueError(
                    f"unknown {name[:-1]} {', '.join(unknown)}; expected one of {', '.join(allowed)}"
                )
        if self.limit is not None and self.limit < 0:
            raise ValueError("limit must be 0 or more")
        if self.subsets is not None:
            self._keys["subsets"] = frozenset(v.casefold() for v in self.subsets)
        if self.settings is not None:
            self._keys["settings"] = frozenset(v.casefold() for v in self.settings)
        if self.countries is not None:
            self._keys["countries"] = frozenset(_country_key(v) for v in self.countries)
        if self.languages is not None:
            names = {normalize_language(v).name.casefold() for v in self.languages}
            self._keys["languages"] = frozenset(names | {v.strip().casefold() for v in self.languages})
        if self.variants is not None:
            self._keys["variants"] = frozenset(self.variants)
        if self.ids is not None:
            self._keys["ids"] = frozenset(self.ids)

    def matches(self, sample: Sample) -> bool:
        """Whether `sample` passes every criterion except `limit`."""
        keys = self._keys
        return (
            ("subsets" not in keys or sample.subset in keys["subsets"])
            and ("settings" not in keys or sample.setting in keys["settings"])
            and ("countries" not in keys or _country_key(sample.country) in keys["countries"])
            and (
                "languages" not in keys
                or sample.language.casefold() in keys["languages"]
                or (sample.language_code or "").casefold() in keys["languages"]
            )
            and ("variants" not in keys or sample.variant in keys["variants"])
            and ("ids" not in keys or sample.id in keys["ids"] or sample.base_id in keys["ids"])
        )

    def apply(self, samples: Iterable[Sample]) -> list[Sample]:
        kept = [sample for sample in samples if self.matches(sample)]
        return kept if self.limit is None else kept[: self.limit]

    def unmatched(self, samples: Sequence[Sample]) -> list[UnmatchedFilter]:
        """Each given value that matches none of `samples` on its own (a typo, or data not loaded)."""
        criteria: tuple[tuple[str, str, Sequence[Any] | None, Callable[[Sample], str]], ...] = (
            ("subset", "subsets", self.subsets, lambda s: s.subset),
            ("setting", "settings", self.settings, lambda s: s.setting),
            ("country", "countries", self.countries, lambda s: s.country),
            ("language", "languages", self.languages, lambda s: s.language),
            ("variant", "variants", self.variants, lambda s: str(s.variant)),
            ("id", "ids", self.ids, lambda s: s.id),
        )
        found: list[UnmatchedFilter] = []
        for criterion, name, values, label in criteria:
            for value in values or ():
                only_this: dict[str, Any] = {name: [value]}
                single = SampleFilter(**only_this)
                if any(single.matches(sample) for sample in samples):
                    continue
                if criterion == "id":
                    ids = [sample.id for sample in samples] + sorted({sample.base_id for sample in samples})
                    available = tuple(difflib.get_close_matches(str(value), ids, n=3))
                else:
                    available = tuple(sorted({label(sample) for sample in samples}))
                found.append(UnmatchedFilter(criterion, str(value), available))
        return found


@dataclass(frozen=True)
class _Source:
    """A data file to read, with what its location says about it."""

    path: Path
    images_root: Path | None
    subset_hint: Subset | None
    setting_hint: Setting | None


@dataclass
class _ParsedFile:
    info: DataFileInfo | None
    samples: list[Sample]


class _Problems:
    """Collects problems; `load_benchmark` raises the first error, `validate_files` reports them all."""

    def __init__(self) -> None:
        self.items: list[DataProblem] = []

    def add(self, file: Path | str, problem: str, **where: Any) -> None:
        self.items.append(DataProblem(file=str(file), problem=problem, **where))

    def first_error(self) -> DataProblem | None:
        return next((p for p in self.items if p.severity == "error"), None)


def _path_hints(path: Path) -> tuple[Subset | None, Setting | None]:
    words = {path.parent.name.casefold(), *re.split(r"[^a-z0-9]+", path.stem.casefold())}
    subset = next((cast(Subset, s) for s in SUBSETS if s in words), None)
    setting = next((cast(Setting, s) for s in SETTINGS if path.stem.casefold() == s), None)
    return subset, setting


def _folder_sources(folder: Path, images_root: Path | None, problems: _Problems) -> list[_Source]:
    candidates = [folder / "data", folder]
    for data_dir in candidates:
        found = [
            (subset, setting, data_dir / subset / f"{setting}{suffix}")
            for subset in SUBSETS
            for setting in SETTINGS
            for suffix in DATA_SUFFIXES
            if os.path.lexists(data_dir / subset / f"{setting}{suffix}")
        ]
        if found:
            root = images_root
            if root is None:
                for guess in (folder / "images", folder.parent / "images" if folder.name == "data" else None):
                    if guess is not None and guess.is_dir():
                        root = guess
                        break
            return [_Source(path, root, subset, setting) for subset, setting, path in found]
    problems.add(
        folder,
        ("a folder, not a data file: " if folder.suffix.casefold() in DATA_SUFFIXES else "")
        + "unknown layout: expected data/<subset>/<setting>.json (or <subset>/<setting>.json) inside the folder, "
        f"with subset one of {', '.join(SUBSETS)} and setting one of {', '.join(SETTINGS)}",
    )
    return []


def _sources(paths: Sequence[Path], images_root: Path | None, problems: _Problems) -> list[_Source]:
    if images_root is not None and has_lone_surrogate(str(images_root)):
        problems.add(images_root, f"images folder: {NOT_UTF8_NAME}")
    elif images_root is not None and os.path.lexists(images_root) and not images_root.is_dir():
        problem = "a file, not a folder" if images_root.is_file() else _unusable_path(images_root)
        problems.add(images_root, f"images folder: {problem}")
    sources: list[_Source] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if has_lone_surrogate(str(path)):
            problems.add(path, NOT_UTF8_NAME)
        elif path.is_dir():
            sources.extend(_folder_sources(path, images_root, problems))
        elif path.is_file():
            subset, setting = _path_hints(path)
            sources.append(_Source(path, images_root, subset, setting))
        else:
            problems.add(path, _unusable_path(path))
    return sources


def _unusable_path(path: Path) -> str:
    """Why `path`, neither a file nor a folder, cannot be read: missing, a broken link or a loop, a device."""
    if not os.path.lexists(path):
        return "no such file or folder"
    return file_problem(path) or "not a file or folder"


def _read_records(path: Path, problems: _Problems) -> tuple[str, list[JsonRecord]] | None:
    """The file's sha256 and records, or None (with the problem added) when it cannot be read or parsed."""
    try:
        data_file = read_records_file(path)
        return data_file.sha256, list(data_file.records())
    except DataError as error:
        problems.items.append(error.to_problem())
        return None


def _infer_subset_setting(
    source: _Source, records: list[JsonRecord], problems: _Problems
) -> tuple[Subset, Setting] | None:
    objects = [record.value for record in records if isinstance(record.value, dict)]
    subset: Subset | None
    if any("violated_specific_norm" in r or "country" in r for r in objects):
        subset = "safeworld"
    elif any("violated_norm" in r for r in objects):
        subset = "casa"
    else:
        subset = source.subset_hint
    if subset is None:
        problems.add(
            source.path,
            "unknown subset layout: no record has `violated_norm` (CASA) or `violated_specific_norm`/`country` "
            "(SafeWorld), and the path names no subset",
        )
        return None
    if source.subset_hint is not None and source.subset_hint != subset:
        problems.add(
            source.path,
            f"the path suggests subset {source.subset_hint!r} but the fields are {subset!r}; using {subset!r}",
            severity="warning",
        )
    setting: Setting
    if any("translated_query" in r for r in objects):
        setting = "multilingual"
    else:
        setting = source.setting_hint or "english"
    return subset, setting


def _check_text_fields(
    record: dict[str, Any], required: Sequence[str], where: dict[str, Any], path: Path, problems: _Problems
) -> bool:
    ok = True
    for name in required:
        if name not in record:
            problems.add(path, "missing required field", field=name, **where)
            ok = False
        elif not isinstance(record[name], str):
            problems.add(
                path, f"expected a string, found {json_type_name(record[name])}", field=name, **where
            )
            ok = False
        elif not record[name].strip():
            problems.add(path, "is empty", field=name, **where)
            ok = False
    for name in OPTIONAL_TEXT_FIELDS:
        value = record.get(name)
        if value is not None and not isinstance(value, str):
            problems.add(
                path, f"expected a string or null, found {json_type_name(value)}", field=name, **where
            )
            ok = False
    return ok


def _image_ref(
    record: dict[str, Any], subset: Subset, source: _Source, where: dict[str, Any], problems: _Problems
) -> ImageRef | None:
    """Map `file_name` to an ImageRef; a local file is looked up under the images root."""
    url: str = record["file_name"].strip()
    parts = urlsplit(url)
    if parts.scheme in ("http", "https"):
        name = unquote(PurePosixPath(parts.path).name)
        if not name or name in (".", "..") or "/" in name or "\\" in name:
            problems.add(
                source.path, f"image name {name!r} escapes its images folder", field="file_name", **where
            )
            return None
        relatives = [PurePosixPath(subset, name)]
        root = source.images_root
    else:
        relative = PurePosixPath(url.replace("\\", "/"))
        if relative.is_absolute() or ".." in relative.parts or parts.scheme:
            problems.add(
                source.path,
                f"image path {url!r} escapes its root: use a path relative to the images folder",
                field="file_name",
                **where,
            )
            return None
        name = relative.name
        relatives = [relative, PurePosixPath(subset, relative)]
        root = source.images_root or source.path.parent
    local: str | None = None
    if root is not None:
        for rel in relatives:
            candidate = root / rel
            if candidate.is_file():
                local = str(candidate)
                break
    return ImageRef(url=url, name=name, local_path=local)


def _country(record: dict[str, Any], index: str) -> str | None:
    explicit = record.get("country")
    if isinstance(explicit, str) and explicit.strip():
        return " ".join(explicit.replace("_", " ").split())
    match = _INDEX_NUMBER.match(index)
    if match is None:
        return None
    return " ".join(match.group("prefix").replace("_", " ").split())


def _parse_file(
    source: _Source,
    problems: _Problems,
    domains: dict[str, Domain],
    overrides: dict[str, Domain],
) -> _ParsedFile:
    path = source.path
    read = _read_records(path, problems)
    if read is None:
        return _ParsedFile(None, [])
    sha256, records = read
    layout = _infer_subset_setting(source, records, problems)
    if layout is None:
        return _ParsedFile(None, [])
    subset, setting = layout
    info = DataFileInfo(path, subset, setting, sha256, len(records))
    required = (
        *REQUIRED_FIELDS,
        NORM_FIELD[subset],
        *(MULTILINGUAL_FIELDS if setting == "multilingual" else ()),
    )

    samples: list[Sample] = []
    variant = 1
    block_opener: str | None = None
    seen_in_block: Counter[str] = Counter()
    for entry in records:
        record = entry.value
        position = entry.position
        where: dict[str, Any] = {"position": position, "line": entry.line}
        if not isinstance(record, dict):
            problems.add(path, f"expected a JSON object, found {json_type_name(record)}", **where)
            continue
        index_value = record.get("index")
        if isinstance(index_value, str):
            where["index"] = index_value
        if entry.defect is not None:
            problems.add(path, entry.defect.problem, field=entry.defect.field, **where)
            continue
        if not _check_text_fields(record, required, where, path, problems):
            continue
        index = record["index"].strip()
        if block_opener is None:
            block_opener = index
        elif setting == "english" and index == block_opener:
            variant += 1
            seen_in_block.clear()
        seen_in_block[index] += 1
        repeat = seen_in_block[index]
        suffix = f"~{repeat}" if repeat > 1 else ""

        country = _country(record, index)
        if country is None:
            problems.add(
                path,
                "cannot derive a country: expected an index `<Country>_<n>` or a `country` field",
                field="index",
                **where,
            )
            continue
        if setting == "multilingual":
            language = normalize_language(record["language"])
            if not language.known:
                problems.add(
                    path,
                    f"unknown language {record['language']!r}; kept as written",
                    field="language",
                    severity="warning",
                    **where,
                )
        else:
            language = ENGLISH
        image = _image_ref(record, subset, source, where, problems)
        if image is None:
            continue

        base_id = f"{subset}/{index}{suffix}"
        sample_id = f"{subset}/{setting}/{variant}/{index}{suffix}"
        domain = override_for(overrides, sample_id=sample_id, base_id=base_id, index=index)
        if domain is None:
            domain = domains.setdefault(base_id, derive_domain(record, subset))
        item = record.get("item")
        samples.append(
            Sample(
                id=sample_id,
                base_id=base_id,
                index=index,
                subset=subset,
                setting=setting,
                variant=variant,
                country=country,
                language=language.name,
                language_code=language.code,
                prompt_text=record["translated_query"] if setting == "multilingual" else record["query"],
                english_query=record["query"],
                norm=record[NORM_FIELD[subset]],
                image=image,
                item=item if isinstance(item, str) and item.strip() else None,
                domain=domain,
                source_file=str(path),
                position=position,
                raw=record,
            )
        )
    return _ParsedFile(info, samples)


def _parse_all(
    paths: Sequence[Path], images_root: Path | None, domain_overrides: Path | None, problems: _Problems
) -> tuple[list[_ParsedFile], list[_Source]]:
    overrides: dict[str, Domain] = {}
    if domain_overrides is not None:
        try:
            overrides = load_domain_overrides(domain_overrides)
        except DataError as exc:
            problems.items.append(exc.to_problem())
    sources = _sources(paths, images_root, problems)
    domains: dict[str, Domain] = {}
    parsed = [_parse_file(source, problems, domains, overrides) for source in sources]
    seen: dict[str, Sample] = {}
    for result in parsed:
        for sample in result.samples:
            first = seen.setdefault(sample.id, sample)
            if first is not sample:
                problems.add(
                    sample.source_file,
                    f"duplicate id {sample.id!r}: already loaded from {first.source_file} (record {first.position})",
                    position=sample.position,
                    index=sample.index,
                    field="index",
                )
    return parsed, sources


def load_benchmark(
    paths: Sequence[Path] | None = None,
    *,
    images_root: Path | None = None,
    filters: SampleFilter | None = None,
    domain_overrides: Path | None = None,
) -> Benchmark:
    """Load samples from `paths` (folders with the upstream layout, or data files), or the upstream release.

    Raises `DataError` for the first error in any file (warnings, such as an unknown language, do not
    stop loading). `images_root` overrides the images folder of every source; without it a folder's
    own `images/` is used, and images of files given alone are fetched from their URLs when needed.
    """
    problems = _Problems()
    if paths is None:
        paths = [ensure_upstream()]
    parsed, sources = _parse_all(paths, images_root, domain_overrides, problems)
    first = problems.first_error()
    if first is not None:
        raise DataError.from_problem(first)
    for problem in problems.items:
        logger.warning("%s", problem.describe())
    samples = [sample for result in parsed for sample in result.samples]
    unmatched: list[UnmatchedFilter] = []
    if filters is not None:
        unmatched = filters.unmatched(samples)
        samples = filters.apply(samples)
    root = images_root or next((s.images_root for s in sources if s.images_root is not None), None)
    files = [r.info for r in parsed if r.info is not None]
    return Benchmark(samples=samples, files=files, images_root=root, unmatched_filters=unmatched)


def validate_files(
    paths: Sequence[Path],
    *,
    images_root: Path | None = None,
    image_options: ImageOptions | None = None,
    domain_overrides: Path | None = None,
) -> list[DataProblem]:
    """Every problem in `paths` (errors and warnings), instead of stopping at the first.

    Images are checked (present, decodable, complete, under the size cap) when an images root is
    known: `images_root`, or a folder's own `images/`; a `file_name` that is a local path (not a URL)
    is checked under the data file's folder when there is no root, as loading looks for it there.
    """
    problems = _Problems()
    parsed, sources = _parse_all(paths, images_root, domain_overrides, problems)
    options = image_options or ImageOptions()
    checked: dict[str, str | None] = {}
    roots = {str(s.path): s.images_root for s in sources}
    for result in parsed:
        for sample in result.samples:
            root = roots.get(sample.source_file)
            is_url = urlsplit(sample.image.url.strip()).scheme in ("http", "https")
            if root is None and is_url:
                continue  # downloaded when a command needs it; see `files_without_images_root`
            where = {"position": sample.position, "index": sample.index, "field": "file_name"}
            if sample.image.local_path is None:
                if is_url:
                    wanted, folder = sample.image.name, (root or Path()) / sample.subset
                else:
                    wanted, folder = sample.image.url, root or Path(sample.source_file).parent
                unusable = file_problem(folder / wanted) if os.path.lexists(folder / wanted) else None
                if unusable is not None:  # there, but a folder, a link loop or a broken link
                    problems.add(sample.source_file, f"image {folder / wanted}: {unusable}", **where)
                else:
                    problems.add(sample.source_file, f"image {wanted!r} not found under {folder}", **where)
                continue
            if sample.image.local_path not in checked:
                checked[sample.image.local_path] = check_image_file(Path(sample.image.local_path), options)
            issue = checked[sample.image.local_path]
            if issue is not None:
                problems.add(sample.source_file, f"image {sample.image.local_path}: {issue}", **where)
    return problems.items


def files_without_images_root(paths: Sequence[Path], images_root: Path | None = None) -> list[Path]:
    """The data files among `paths` that have no images folder (no `images_root`, no `images/` beside them).

    `validate_files` cannot check their URL images, which commands download when they need them.
    """
    return [source.path for source in _sources(paths, images_root, _Problems()) if source.images_root is None]
