"""The CROSS data layer: typed samples, loaders (upstream, local folders, user files), images, domains."""

from crosseval.data.errors import DataError, DataProblem
from crosseval.data.images import ImageError, ImageOptions, ImageResolver, thumbnail_jpeg
from crosseval.data.languages import Language, normalize_language
from crosseval.data.loaders import Benchmark, DataFileInfo, SampleFilter, load_benchmark, validate_files
from crosseval.data.prepared_image import PreparedImage
from crosseval.data.records import DOMAINS, SETTINGS, SUBSETS, Domain, ImageRef, Sample, Setting, Subset

__all__ = [
    "DOMAINS",
    "SETTINGS",
    "SUBSETS",
    "Benchmark",
    "DataError",
    "DataFileInfo",
    "DataProblem",
    "Domain",
    "ImageError",
    "ImageOptions",
    "ImageRef",
    "ImageResolver",
    "Language",
    "PreparedImage",
    "Sample",
    "SampleFilter",
    "Setting",
    "Subset",
    "load_benchmark",
    "normalize_language",
    "thumbnail_jpeg",
    "validate_files",
]
