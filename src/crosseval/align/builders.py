"""Builders that need no model: CVQA visual multiple-choice SFT and imports of the upstream SFT files.

Each writes a dataset folder (see `dataset.py`) and returns its card. Every item passes the leakage
guard first; what it removes is listed on the card.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlsplit

from crosseval import __version__
from crosseval.align.dataset import (
    DatasetCard,
    DatasetWriter,
    LeakageReport,
    SourceFile,
    count_by,
    read_card,
)
from crosseval.align.errors import AlignError
from crosseval.align.examples import SftExample, assistant_message, user_message
from crosseval.align.importers import (
    McqItem,
    Split,
    detect_upstream_kind,
    read_cvqa_file,
    read_upstream_cvqa,
    read_upstream_safety,
    split_of,
    upstream_split,
)
from crosseval.align.leakage import LeakageGuard, LeakageHit
from crosseval.align.records_io import file_sha256, iter_records
from crosseval.clock import utc_now
from crosseval.data.images import ImageOptions

SplitChoice = Literal["overlapped", "exclusive", "all"]


@dataclass(frozen=True)
class BuildOptions:
    """What every builder shares: the guard, where to write, the command line for the card, and how
    images of norms files are prepared (as `crosseval generate` prepares benchmark images)."""

    out_dir: Path
    guard: LeakageGuard | None
    command: str
    overwrite: bool = False
    image_options: ImageOptions = field(default_factory=ImageOptions)


def new_card(
    kind: Literal["sft", "dpo"], builder: str, options: BuildOptions, sources: list[SourceFile]
) -> DatasetCard:
    return DatasetCard(
        kind=kind,
        builder=builder,
        created_at=utc_now(),
        command=options.command,
        crosseval_version=__version__,
        sources=sources,
        examples=0,
        leakage=LeakageReport(guard=options.guard.summary() if options.guard is not None else None),
    )


def record_leak(report: LeakageReport, item_id: str, hit: LeakageHit) -> None:
    report.removed += 1
    report.items.append({"id": item_id, **hit.as_dict()})


def _url_name(url: str) -> str:
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1])


def _is_cvqa_upstream(path: Path) -> bool:
    for _, record in iter_records(path):
        return "messages" in record
    raise AlignError(f"{path}: the file holds no records")


def build_cvqa_sft(
    files: Sequence[Path],
    options: BuildOptions,
    *,
    split: SplitChoice = "all",
    images_root: Path | None = None,
) -> DatasetCard:
    """Visual multiple-choice SFT from CVQA-format files (local, with countries) or upstream `cvqa_sft` files.

    Local records are split by country (overlapped = CROSS countries); an upstream file is one split,
    named by its file name. Images given as URLs are taken from `images_root` (by file name) when there,
    else kept as URLs (the OpenAI export can use them; training needs local files).
    """
    items: list[tuple[McqItem, Split]] = []
    sources: list[SourceFile] = []
    for path in files:
        if _is_cvqa_upstream(path):
            loaded = read_upstream_cvqa(path)
            items += [(item, upstream_split(path)) for item in loaded]
        else:
            loaded = read_cvqa_file(path)
            items += [(item, split_of(item.country or "")) for item in loaded]
        sources.append(SourceFile(path=str(path), sha256=file_sha256(path), records=len(loaded)))
    card = new_card("sft", "cvqa", options, sources)
    card.settings = {"split": split, "images_root": str(images_root) if images_root else None}
    splits: list[str | None] = []
    countries: list[str | None] = []
    with DatasetWriter(options.out_dir, overwrite=options.overwrite) as writer:
        for item, item_split in items:
            if split != "all" and item_split != split:
                continue
            item_id = f"cvqa/{Path(item.source).stem}/{item.line}"
            image_file = _local_image(item, images_root)
            sha256 = None
            if image_file is not None:
                relative, sha256 = writer.add_image_bytes(image_file.read_bytes(), image_file.suffix.lower())
            url = item.image if item.image.startswith(("http://", "https://")) else None
            if options.guard is not None:
                hit = options.guard.check({"query": item.question}, [(sha256, url)])
                if hit is not None:
                    record_leak(card.leakage, item_id, hit)
                    continue
            image_ref = relative if image_file is not None else item.image
            writer.add(
                SftExample(
                    id=item_id,
                    messages=[user_message(item.prompt, images=1), assistant_message(item.target)],
                    images=[image_ref],
                    meta={
                        "split": item_split,
                        "country": item.country,
                        "source": item.source,
                        "line": item.line,
                    },
                )
            )
            splits.append(item_split)
            countries.append(item.country)
        if not writer.examples:
            raise AlignError(_nothing_left("CVQA items", len(items), card, split))
        card.counts = {"split": count_by(splits), "country": count_by(countries)}
        writer.finish(card)
    return _final_card(options.out_dir)


def _local_image(item: McqItem, images_root: Path | None) -> Path | None:
    """The image file of an item: its local path, or its URL's file name under `images_root`."""
    if not item.image.startswith(("http://", "https://")):
        path = Path(item.image)
        if not path.is_file():
            raise AlignError(f"{item.source}: line {item.line}: field 'image': no such file {path}")
        return path
    if images_root is not None:
        candidate = images_root / _url_name(item.image)
        if candidate.is_file():
            return candidate
    return None


def build_upstream_import(files: Sequence[Path], options: BuildOptions) -> DatasetCard:
    """An SFT dataset from upstream safety SFT files (text-only scenes and answers), guarded against leakage."""
    sources: list[SourceFile] = []
    pairs = []
    for path in files:
        kind = detect_upstream_kind(path)
        if kind != "safety":
            raise AlignError(f"{path}: an upstream CVQA file: build it with `crosseval align cvqa {path}`")
        loaded = read_upstream_safety(path)
        pairs += loaded
        sources.append(SourceFile(path=str(path), sha256=file_sha256(path), records=len(loaded)))
    card = new_card("sft", "import", options, sources)
    with DatasetWriter(options.out_dir, overwrite=options.overwrite) as writer:
        for pair in pairs:
            item_id = f"safety/{Path(pair.source).stem}/{pair.line}"
            if options.guard is not None and (hit := options.guard.check({"query": pair.prompt})) is not None:
                record_leak(card.leakage, item_id, hit)
                continue
            writer.add(
                SftExample(
                    id=item_id,
                    messages=[user_message(pair.prompt), assistant_message(pair.answer)],
                    meta={"source": pair.source, "line": pair.line},
                )
            )
        if not writer.examples:
            raise AlignError(_nothing_left("safety SFT lines", len(pairs), card, "all"))
        card.counts = {"source": count_by([e.meta["source"] for e in writer.examples])}
        writer.finish(card)
    return _final_card(options.out_dir)


def _nothing_left(what: str, total: int, card: DatasetCard, split: str) -> str:
    if total == 0:
        return f"no {what} in the input"
    if card.leakage.removed == total:
        return f"all {total} {what} overlap the CROSS evaluation set: nothing left to write"
    return f"no {what} left to write (split {split!r}; {card.leakage.removed} removed by the leakage guard)"


def _final_card(out_dir: Path) -> DatasetCard:
    return read_card(out_dir)
