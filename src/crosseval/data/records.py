"""The typed record of one CROSS item, shared by every layer."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Subset = Literal["casa", "safeworld"]
Setting = Literal["english", "multilingual"]
Domain = Literal["shopping", "meal_planning", "outdoor_activities"]

SUBSETS: tuple[Subset, ...] = ("casa", "safeworld")
SETTINGS: tuple[Setting, ...] = ("english", "multilingual")
DOMAINS: tuple[Domain, ...] = ("shopping", "meal_planning", "outdoor_activities")


class ImageRef(BaseModel):
    """Where a sample's image lives upstream, and where it was found locally (if anywhere)."""

    model_config = ConfigDict(frozen=True)

    url: str
    """The upstream `file_name` value, usually a raw.githubusercontent.com URL."""
    name: str
    """The file name (last URL path segment, percent-decoded), e.g. `pexels-x-123.jpg`."""
    local_path: str | None = None
    """An existing local file for this image, when a local images root holds it."""


class Sample(BaseModel):
    """One image+query item of CROSS (or of a user extension in the same schema).

    `id` is stable and unique across the whole benchmark: `<subset>/<setting>/<variant>/<index>`,
    with `~<k>` appended to the k-th (k >= 2) record that repeats an `index` inside one block.
    `base_id` (`<subset>/<index>[~k]`) names the base item shared by paraphrases and translations;
    statistics cluster on it.
    """

    model_config = ConfigDict(frozen=True)

    id: str
    base_id: str
    index: str
    subset: Subset
    setting: Setting
    variant: int = Field(ge=1)
    country: str
    """Display name without underscores, e.g. `Saudi Arabia`."""
    language: str
    """Canonical language name (`English` in the english setting)."""
    language_code: str | None = None
    """ISO 639-1 (or 639-3 when no 639-1 exists) code of `language`, when known."""
    prompt_text: str
    """The text sent to the model: `query` (english) or `translated_query` (multilingual)."""
    english_query: str
    """The upstream `query` (in multilingual files: the English source of the translation)."""
    norm: str
    """The reference norm for the judge: `violated_norm` (CASA) or `violated_specific_norm` (SafeWorld)."""
    image: ImageRef
    item: str | None = None
    domain: Domain
    source_file: str
    """The file the record came from (as given by the user, or the cache path)."""
    position: int
    """0-based position of the record in its file."""
    raw: dict[str, Any]
    """Every upstream field, verbatim."""
