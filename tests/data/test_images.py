from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path

import pytest
from PIL import Image

from crosseval.data.images import (
    ImageError,
    ImageOptions,
    ImageResolver,
    clear_image_memo,
    prepare_image_bytes,
    thumbnail_jpeg,
)
from crosseval.data.records import ImageRef, Sample, Subset
from tests.data.conftest import StaticRoute, StaticServer


@pytest.fixture(autouse=True)
def _fresh_memo() -> None:
    clear_image_memo()


def _sample(url: str, *, subset: Subset = "casa", local_path: str | None = None) -> Sample:
    name = url.rsplit("/", 1)[-1]
    return Sample(
        id=f"{subset}/english/1/Japan_1",
        base_id=f"{subset}/Japan_1",
        index="Japan_1",
        subset=subset,
        setting="english",
        variant=1,
        country="Japan",
        language="English",
        language_code="en",
        prompt_text="q",
        english_query="q",
        norm="n",
        image=ImageRef(url=url, name=name, local_path=local_path),
        domain="shopping",
        source_file="data/casa/english.json",
        position=4,
        raw={},
    )


def _encode(image: Image.Image, fmt: str, **kwargs: object) -> bytes:
    out = io.BytesIO()
    image.save(out, format=fmt, **kwargs)
    return out.getvalue()


def _decode(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))
    image.load()
    return image


def test_small_rgb_jpeg_is_sent_unchanged() -> None:
    data = _encode(Image.new("RGB", (40, 30), (200, 10, 10)), "JPEG")
    prepared = prepare_image_bytes(data, ImageOptions())
    assert prepared.data == data
    assert (prepared.mime, prepared.width, prepared.height) == ("image/jpeg", 40, 30)
    assert prepared.sha256 == hashlib.sha256(data).hexdigest()


def test_large_png_is_capped_and_stays_png() -> None:
    data = _encode(Image.new("RGB", (400, 100), (0, 128, 0)), "PNG")
    prepared = prepare_image_bytes(data, ImageOptions(max_side=100))
    assert prepared.mime == "image/png"
    assert (prepared.width, prepared.height) == (100, 25)
    assert _decode(prepared.data).format == "PNG"
    assert prepared.sha256 == hashlib.sha256(prepared.data).hexdigest()


def test_exif_rotation_is_applied() -> None:
    image = Image.new("RGB", (60, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    prepared = prepare_image_bytes(_encode(image, "JPEG", exif=exif), ImageOptions())
    assert (prepared.width, prepared.height) == (20, 60)
    assert _decode(prepared.data).size == (20, 60)


def test_transparency_goes_over_white_and_other_formats_become_jpeg() -> None:
    rgba = Image.new("RGBA", (10, 10), (0, 0, 0, 0))
    prepared = prepare_image_bytes(_encode(rgba, "PNG"), ImageOptions())
    assert prepared.mime == "image/png"
    assert _decode(prepared.data).convert("RGB").getpixel((5, 5)) == (255, 255, 255)
    gif = prepare_image_bytes(_encode(Image.new("P", (8, 8)), "GIF"), ImageOptions())
    assert gif.mime == "image/jpeg" and _decode(gif.data).format == "JPEG"


def test_jpeg_quality_changes_the_bytes_and_the_identity() -> None:
    noisy = Image.effect_noise((64, 64), 80).convert("RGB")
    data = _encode(noisy, "PNG")
    low = ImageOptions(max_side=32, jpeg_quality=30)
    high = ImageOptions(max_side=32, jpeg_quality=95)
    assert low.identity() != high.identity()
    # PNG stays PNG whatever the quality; a BMP becomes JPEG and the quality shows in its size.
    bmp = _encode(noisy, "BMP")
    assert len(prepare_image_bytes(bmp, low).data) < len(prepare_image_bytes(bmp, high).data)
    assert prepare_image_bytes(data, low).mime == "image/png"


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"<html>hello</html>", "not an image"),
        (_encode(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")[:60], "truncated"),
        (_encode(Image.effect_noise((64, 64), 50).convert("RGB"), "JPEG")[:300], "truncated"),
    ],
)
def test_unusable_bytes_are_refused(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        prepare_image_bytes(data, ImageOptions())


def test_thumbnail_is_a_small_jpeg() -> None:
    prepared = prepare_image_bytes(_encode(Image.new("RGB", (1000, 500)), "PNG"), ImageOptions())
    thumb = _decode(thumbnail_jpeg(prepared, max_side=64))
    assert thumb.format == "JPEG" and thumb.size == (64, 32)


def test_resolver_maps_the_upstream_url_under_the_images_root(tmp_path: Path) -> None:
    name = "Tent_maker_in_Elkhiyamia_street_in_2017,_photo_by_Hatem_Moushir_2.jpg"
    (tmp_path / "safeworld").mkdir()
    data = _encode(Image.new("RGB", (16, 16), (9, 9, 9)), "JPEG")
    (tmp_path / "safeworld" / name).write_bytes(data)
    sample = _sample(f"https://raw.githubusercontent.com/x/images/safeworld/{name}", subset="safeworld")
    prepared = ImageResolver(tmp_path).load(sample)
    assert prepared.data == data


def test_resolver_reports_a_missing_image_with_file_and_record(tmp_path: Path) -> None:
    sample = _sample("https://example.org/images/casa/none.png")
    with pytest.raises(ImageError) as caught:
        ImageResolver(tmp_path).load(sample)
    error = caught.value
    assert (error.file, error.position, error.index, error.field) == (
        "data/casa/english.json",
        4,
        "Japan_1",
        "file_name",
    )
    assert "missing" in error.problem


def test_resolver_refuses_a_name_that_escapes_the_root(tmp_path: Path) -> None:
    (tmp_path / "root").mkdir()
    (tmp_path / "secret.png").write_bytes(_encode(Image.new("RGB", (4, 4)), "PNG"))
    sample = _sample("https://example.org/x").model_copy(
        update={"image": ImageRef(url="https://example.org/x", name="../../secret.png")}
    )
    with pytest.raises(ImageError, match="escapes the images root"):
        ImageResolver(tmp_path / "root").load(sample)


def test_resolver_refuses_a_local_image_over_the_cap(tmp_path: Path) -> None:
    (tmp_path / "casa").mkdir()
    (tmp_path / "casa" / "big.png").write_bytes(_encode(Image.new("RGB", (64, 64)), "PNG"))
    with pytest.raises(ImageError, match="over the size cap"):
        ImageResolver(tmp_path, ImageOptions(max_download_bytes=50)).load(
            _sample("https://e.org/casa/big.png")
        )


def test_resolver_prepares_each_image_once_per_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import crosseval.data.images as images

    (tmp_path / "casa").mkdir()
    (tmp_path / "casa" / "a.png").write_bytes(_encode(Image.new("RGB", (8, 8)), "PNG"))
    calls: list[int] = []
    original = images.prepare_image_bytes

    def counting(data: bytes, options: ImageOptions) -> images.PreparedImage:
        calls.append(1)
        return original(data, options)

    monkeypatch.setattr(images, "prepare_image_bytes", counting)
    sample = _sample("https://e.org/casa/a.png")
    first = ImageResolver(tmp_path).load(sample)
    second = ImageResolver(tmp_path).load(sample)
    assert first is second and len(calls) == 1
    ImageResolver(tmp_path, ImageOptions(max_side=4)).load(sample)
    assert len(calls) == 2


def test_resolver_downloads_into_the_cache_once(static_server: StaticServer, tmp_path: Path) -> None:
    data = _encode(Image.new("RGB", (12, 12), (1, 200, 3)), "PNG")
    static_server.routes["/images/casa/a%2Cb.png"] = StaticRoute(data, content_type="image/png")
    sample = _sample(f"{static_server.base_url}/images/casa/a%2Cb.png")
    resolver = ImageResolver(None, cache_dir=tmp_path / "cache")
    assert resolver.load(sample).data == data
    assert resolver.download_path(sample.image.url).read_bytes() == data
    assert resolver.download_path(sample.image.url).is_relative_to(tmp_path / "cache" / "images")
    clear_image_memo()
    assert ImageResolver(None, cache_dir=tmp_path / "cache").load(sample).data == data
    assert static_server.hits["/images/casa/a%2Cb.png"] == 1


def test_resolver_uses_the_default_cache_dir(static_server: StaticServer) -> None:
    data = _encode(Image.new("RGB", (12, 12)), "JPEG")
    static_server.routes["/a.jpg"] = StaticRoute(data, content_type="image/jpeg")
    resolver = ImageResolver()
    resolver.load(_sample(f"{static_server.base_url}/a.jpg"))
    assert "crosseval-cache" in str(resolver.download_path(f"{static_server.base_url}/a.jpg"))


@pytest.mark.parametrize(
    ("route", "options", "message"),
    [
        (
            StaticRoute(b"<html>no</html>", content_type="text/html"),
            ImageOptions(),
            "content-type 'text/html'",
        ),
        (StaticRoute(b"GARBAGE" * 10, content_type="image/png"), ImageOptions(), "unknown file signature"),
        (
            StaticRoute(b"\x89PNG\r\n\x1a\n" + b"0" * 5000, content_type="image/png"),
            ImageOptions(max_download_bytes=1000),
            "over the size cap",
        ),
        (StaticRoute(b"", status=500), ImageOptions(), "HTTP 500"),
        (
            StaticRoute(b"\xff\xd8\xff", content_type="image/jpeg", delay_s=1.0),
            ImageOptions(timeout_s=0.2),
            "timed out",
        ),
    ],
)
def test_bad_downloads_are_image_errors_and_are_not_cached(
    static_server: StaticServer, tmp_path: Path, route: StaticRoute, options: ImageOptions, message: str
) -> None:
    static_server.routes["/bad.png"] = route
    sample = _sample(f"{static_server.base_url}/bad.png")
    resolver = ImageResolver(None, options, cache_dir=tmp_path)
    with pytest.raises(ImageError, match=message):
        resolver.load(sample)
    assert not resolver.download_path(sample.image.url).exists()


def test_a_relative_name_without_a_root_is_an_error() -> None:
    with pytest.raises(ImageError, match="not a URL"):
        ImageResolver().load(_sample("pictures/a.png"))


def test_an_image_between_the_pixel_cap_and_twice_it_is_refused_without_a_warning(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)
    data = _encode(Image.new("RGB", (12, 12)), "PNG")  # 144 pixels: Pillow only warns, then decodes
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ValueError, match="over the pixel cap"):
            prepare_image_bytes(data, ImageOptions())
    assert prepare_image_bytes(_encode(Image.new("RGB", (10, 10)), "PNG"), ImageOptions()).width == 10


def test_resolver_names_a_symbolic_link_loop(tmp_path: Path) -> None:
    (tmp_path / "casa").mkdir()
    (tmp_path / "casa" / "loop.png").symlink_to("loop.png")
    with pytest.raises(ImageError) as caught:
        ImageResolver(tmp_path).load(_sample("https://e.org/casa/loop.png"))
    assert caught.value.problem == f"image {tmp_path / 'casa' / 'loop.png'}: a symbolic link loop"
    local = _sample("loop.png", local_path=str(tmp_path / "casa" / "loop.png"))
    with pytest.raises(ImageError, match="a symbolic link loop"):
        ImageResolver().load(local)
