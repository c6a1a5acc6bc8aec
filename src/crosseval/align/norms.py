"""The norms file that seeds safety SFT and DPO data: one cultural norm and a scene that breaks it per record.

Accepted as JSONL, a JSON array or CSV. Required fields: `norm`, `country`, `item`, `scene` (a
first-person scene in which the user is about to break the norm). Optional: `query` (the user's
question, appended to the scene), `image` (a local path, relative to the file, shown with the scene)
and `id`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from crosseval.align.errors import AlignError
from crosseval.align.importers import normalize_country
from crosseval.align.records_io import iter_records, optional_text, required_text

REQUIRED_FIELDS = ("norm", "country", "item", "scene")


@dataclass(frozen=True)
class NormRecord:
    id: str
    norm: str
    country: str
    item: str
    scene: str
    query: str | None
    image: Path | None
    source: str
    line: int

    @property
    def user_prompt(self) -> str:
        """What the user says: the scene, then the question when there is one."""
        return self.scene if self.query is None else f"{self.scene.rstrip()} {self.query.strip()}"


def read_norms(path: Path) -> list[NormRecord]:
    """Every record of a norms file, validated; an error names the file, the line and the field."""
    records: list[NormRecord] = []
    seen: dict[str, int] = {}
    for line, record in iter_records(path):
        values = {field: required_text(path, line, record, field) for field in REQUIRED_FIELDS}
        query = optional_text(path, line, record, "query")
        image_text = optional_text(path, line, record, "image")
        image: Path | None = None
        if image_text is not None:
            image = Path(image_text) if Path(image_text).is_absolute() else path.parent / image_text
            if not image.is_file():
                raise AlignError(f"{path}: line {line}: field 'image': no such file {image}")
        raw_id = record.get("id")
        record_id = str(raw_id) if raw_id not in (None, "") else f"{path.stem}/{line}"
        if record_id in seen:
            raise AlignError(f"{path}: line {line}: field 'id': '{record_id}' repeats line {seen[record_id]}")
        seen[record_id] = line
        records.append(
            NormRecord(
                id=record_id,
                norm=values["norm"],
                country=normalize_country(values["country"]),
                item=values["item"],
                scene=values["scene"],
                query=query,
                image=image,
                source=str(path),
                line=line,
            )
        )
    if not records:
        raise AlignError(f"{path}: the norms file holds no records")
    return records
