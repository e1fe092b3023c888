"""Render parameters without AWS: parsing, validation, Accept negotiation, sizes, cache keys."""

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib import renders
from chalicelib.errors import Invalid, Unprocessable
from chalicelib.images import Content, Variant
from chalicelib.imaging.geometry import contained_size
from chalicelib.settings import Settings
from chalicelib.specs import DEFAULT_VARIANTS, Fit, RenderSpec

ROOT = Path(__file__).resolve().parents[2]
CONFIG = Settings(
    bucket="b", table="t", region="us-east-1", user_pool_id="p", user_pool_arn="a",
    app_client_id="c",
)  # fmt: skip
SHA = "ab" * 32

CHROME = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
FIREFOX = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
SAFARI = (
    "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
)
CURL = "*/*"


def checked(**params: str) -> renders.Params:
    return renders.validate(renders.parse(params), CONFIG)


def key_of(params: dict[str, str], accept: str | None = None, original=(4000, 3000)) -> str:
    asked = checked(**params)
    spec = renders.plan(asked, renders.negotiate(asked.format, accept), original, 50_000_000)
    return renders.cache_key(spec, SHA)


def refusal(**params: str) -> str:
    with pytest.raises(Invalid) as raised:
        checked(**params)
    return raised.value.message


# --- parsing and defaults ---------------------------------------------------------------


def test_only_a_width_gets_contain_no_rotation_auto_format_and_default_quality():
    assert checked(w="800") == renders.Params(800, None, Fit.CONTAIN, 0, "auto", None)


def test_every_parameter_is_parsed_into_its_type():
    assert checked(w="640", h="480", fit="cover", rotate="270", format="webp", q="55") == (
        renders.Params(640, 480, Fit.COVER, 270, "webp", 55)
    )


def test_names_of_choices_are_case_insensitive_and_jpg_means_jpeg():
    asked = checked(w="10", fit="FILL", h="10", format="JPG")
    assert (asked.fit, asked.format) == (Fit.FILL, "jpeg")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"w": "800", "width": "800"}, "width"),
        ({"w": "800", "W": "800"}, "W"),
        ({"w": "0"}, "w"),
        ({"w": "4097"}, "w"),
        ({"w": "-5"}, "w"),
        ({"w": "12.5"}, "w"),
        ({"w": "8e2"}, "w"),
        ({"w": "800px"}, "w"),
        ({"w": ""}, "w"),
        ({"w": "9" * 5000}, "w"),
        ({"w": "٨٠٠"}, "w"),  # Arabic-Indic digits: int() would take them
        ({"h": "0"}, "h"),
        ({"h": "99999"}, "h"),
        ({"w": "800", "fit": "stretch"}, "fit"),
        ({"w": "800", "fit": ""}, "fit"),
        ({"w": "800", "rotate": "45"}, "rotate"),
        ({"w": "800", "rotate": "-90"}, "rotate"),
        ({"w": "800", "rotate": "360"}, "rotate"),
        ({"w": "800", "format": "gif"}, "format"),
        ({"w": "800", "format": "heic"}, "format"),
        ({"w": "800", "q": "0"}, "q"),
        ({"w": "800", "q": "101"}, "q"),
        ({"w": "800", "q": "high"}, "q"),
        ({"fit": "contain"}, "w or h"),
        ({"w": "800", "fit": "cover"}, "fit=cover"),
        ({"h": "800", "fit": "fill"}, "fit=fill"),
    ],
)
def test_each_bad_parameter_is_refused_naming_it(params, named):
    message = refusal(**params)
    assert message.startswith(named) or repr(named) in message, message


def test_an_echoed_value_is_cut_short():
    assert len(refusal(w="x" * 500)) < 80


def test_the_largest_side_follows_the_setting():
    roomy = replace(CONFIG, max_render_side=8000)
    assert renders.validate(renders.parse({"w": "8000"}), roomy).width == 8000
    assert "8000" in refusal(w="8000") and "4096" in refusal(w="8000")


def test_an_allow_list_of_sizes_refuses_every_other_size():
    strict = replace(CONFIG, render_sizes=frozenset({(640, 480), (320, 0), (0, 200)}))

    def allowed(**params: str) -> bool:
        try:
            renders.validate(renders.parse(params), strict)
        except Invalid as error:
            if not error.message.startswith("w and h: "):
                raise
            return False
        return True

    assert allowed(w="640", h="480", fit="cover")
    assert allowed(w="320") and allowed(h="200")
    assert not allowed(w="641", h="480")
    assert not allowed(w="320", h="200")
    assert not allowed(w="640")


# --- Accept -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("accept", "expected"),
    [
        (CHROME, "avif"),
        (FIREFOX, "avif"),
        (SAFARI, "avif"),
        (CURL, "jpeg"),
        (None, "jpeg"),
        ("", "jpeg"),
        ("image/*", "jpeg"),
        ("image/webp,*/*", "webp"),
        ("image/avif;q=0,image/webp,*/*", "webp"),
        ("image/avif;q=0,image/webp;q=0,image/*", "jpeg"),
        ("IMAGE/AVIF", "avif"),
        ("image/avif;q=0.4,image/webp;q=0.9,*/*", "jpeg"),  # */* gives JPEG q=1
        ("image/avif;q=0.4,image/webp;q=0.9,*/*;q=0.1", "webp"),
        ("image/avif ; q=0.7 , image/webp;q=0.7", "avif"),
        ("image/avif;q=oops,image/webp", "webp"),
        ("image/avif;q=2,*/*", "jpeg"),
        ("image/jpeg;q=0", "jpeg"),  # refusing everything still gets the universal format
        ("text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8", "jpeg"),
        ("image/avif;charset=x;q=1,image/png", "avif"),
        ("garbage,,;;", "jpeg"),
    ],
)
def test_auto_picks_the_format_the_accept_header_allows(accept, expected):
    assert renders.negotiate("auto", accept) == expected


def test_an_explicit_format_ignores_accept():
    assert renders.negotiate("png", CHROME) == "png"
    assert renders.negotiate("avif", CURL) == "avif"


# --- sizes ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "box", "expected"),
    [
        ((4000, 3000), (800, None), (800, 600)),
        ((4000, 3000), (None, 300), (400, 300)),
        ((4000, 3000), (800, 800), (800, 600)),
        ((3000, 4000), (800, 800), (600, 800)),
        ((4000, 3000), (4096, 4096), (4000, 3000)),  # contain never upscales
        ((640, 480), (1600, None), (640, 480)),
        ((10000, 10), (100, None), (100, 1)),  # never rounds a side down to nothing
        ((6000, 4000), (257, None), (257, 171)),  # the given side is kept exactly
        ((6000, 4000), (None, 171), (256, 171)),
        ((3391, 6028), (None, 1601), (901, 1601)),
    ],
)
def test_contain_resolves_to_the_size_it_makes_from_the_original(original, box, expected):
    assert contained_size(original, *box) == expected


def test_contain_is_planned_as_a_resize_to_its_exact_size():
    spec = renders.plan(checked(w="800", rotate="90"), "webp", (4000, 3000), 50_000_000)
    assert spec == RenderSpec(800, 600, Fit.FILL, 90, "webp", 80)


def test_quality_defaults_per_format_and_png_has_none():
    def quality(fmt: str, **params: str) -> int:
        return renders.plan(checked(w="10", **params), fmt, (100, 100), 10**6).quality

    assert [quality(f) for f in ("jpeg", "webp", "avif")] == [82, 80, 60]
    assert quality("webp", q="33") == 33
    assert quality("png") == quality("png", q="5") == renders.LOSSLESS_QUALITY


def test_a_cover_that_would_scale_a_thin_image_to_billions_of_pixels_is_refused():
    with pytest.raises(Unprocessable, match="fit=cover"):
        renders.plan(checked(w="4096", h="4096", fit="cover"), "jpeg", (20000, 10), 50_000_000)
    assert renders.plan(checked(w="4096", h="4096", fit="cover"), "jpeg", (6000, 4000), 50_000_000)


# --- what one render may cost ---------------------------------------------------------


@pytest.mark.parametrize("fit", ["fill", "cover"])
def test_a_render_with_more_pixels_than_its_original_is_refused(fit):
    with pytest.raises(Unprocessable, match="never upscale"):
        renders.plan(checked(w="4096", h="4096", fit=fit), "webp", (640, 480), 50_000_000)
    assert renders.plan(checked(w="640", h="480", fit=fit), "webp", (640, 480), 50_000_000)


def test_an_avif_render_is_held_to_a_smaller_box_than_the_other_formats():
    with pytest.raises(Unprocessable, match="at most 4,194,304 pixels"):
        renders.plan(checked(w="4096", h="4096", fit="fill"), "avif", (6000, 4000), 50_000_000)
    with pytest.raises(Unprocessable, match="at most 4,194,304 pixels"):
        renders.plan(checked(w="4096", format="avif"), "avif", (6000, 4000), 50_000_000)
    assert renders.plan(checked(w="2048", h="2048", fit="fill"), "avif", (6000, 4000), 50_000_000)
    assert renders.plan(checked(w="4096", h="4096", fit="fill"), "webp", (6000, 4000), 50_000_000)


def test_avif_quality_stops_short_of_near_lossless():
    with pytest.raises(Invalid, match="q for avif must be from 1 to 90"):
        renders.plan(checked(w="800", q="100", format="avif"), "avif", (6000, 4000), 50_000_000)
    assert renders.plan(checked(w="800", q="90", format="avif"), "avif", (6000, 4000), 50_000_000)
    assert renders.plan(checked(w="800", q="100", format="jpeg"), "jpeg", (6000, 4000), 50_000_000)


# --- cache keys -------------------------------------------------------------------------


def test_equivalent_requests_share_one_cache_key():
    base = key_of({"w": "800", "h": "600", "fit": "contain", "format": "jpeg"})
    assert key_of({"format": "jpeg", "fit": "contain", "h": "600", "w": "800"}) == base
    assert key_of({"w": "800", "h": "600", "format": "JPG"}) == base
    assert key_of({"w": "0800", "h": "600", "format": "jpeg", "q": "82", "rotate": "0"}) == base
    assert key_of({"w": "800", "format": "jpeg"}) == base  # 800 wide is 600 high anyway
    assert key_of({"h": "600", "w": "4096", "format": "jpeg"}) == base
    assert key_of({"w": "800", "h": "600", "fit": "fill", "format": "jpeg"}) == base
    assert key_of({"w": "800"}, CURL) == base
    assert key_of({"w": "800", "format": "auto"}, "image/jpeg") == base


def test_auto_shares_the_key_of_the_format_it_resolves_to():
    assert key_of({"w": "800"}, CHROME) == key_of({"w": "800", "format": "avif"})
    assert key_of({"w": "800", "format": "png", "q": "10"}) == key_of({"w": "800", "format": "png"})


def test_different_pictures_have_different_keys():
    keys = {
        key_of({"w": "800"}),
        key_of({"w": "801"}),
        key_of({"w": "800", "format": "webp"}),
        key_of({"w": "800", "q": "81"}),
        key_of({"w": "800", "rotate": "90"}),
        key_of({"w": "800", "h": "600", "fit": "cover"}),
        key_of({"w": "800", "h": "300", "fit": "fill"}),
        key_of({"w": "800", "h": "300", "fit": "cover"}),
        key_of({"w": "800"}, original=(4000, 2000)),
    }
    assert len(keys) == 9
    spec = renders.plan(checked(w="800"), "jpeg", (4000, 3000), 10**8)
    assert renders.cache_key(spec, SHA) != renders.cache_key(spec, "cd" * 32)
    assert all(len(key) == 32 and int(key, 16) >= 0 for key in keys)


# --- source choice ----------------------------------------------------------------------


def content(original=(6000, 4000)) -> Content:
    def variant(name: str, width: int, height: int) -> Variant:
        return Variant(f"variants/img/up/{name}.jpg", width, height, 1, "jpeg")

    return Content(
        uploadId="up", key="uploads/img/up", bytes=1, width=original[0], height=original[1],
        format="jpeg", sha256=SHA, frames=1,
        variants={
            "thumbnail": variant("thumbnail", *contained_size(original, 256, 256)),
            "preview": variant("preview", *contained_size(original, 1600, 1600)),
            "hd-rotated": variant("hd-rotated", 1280, 720),
        },
    )  # fmt: skip


def source_for(original=(6000, 4000), **params: str) -> str:
    spec = renders.plan(checked(**params), "jpeg", original, 10**8)
    return renders.choose_source(spec, content(original), DEFAULT_VARIANTS).split("/")[-1]


def test_the_smallest_plain_variant_with_enough_pixels_is_the_source():
    assert source_for(w="200") == "thumbnail.jpg"
    assert source_for(w="256") == "thumbnail.jpg"
    assert source_for(w="257") == "preview.jpg"
    assert source_for(w="800") == "preview.jpg"
    assert source_for(w="1600") == "preview.jpg"
    assert source_for(h="1067") == "preview.jpg"
    assert source_for(w="800", h="800", fit="cover") == "preview.jpg"  # needs 1200x800
    assert source_for(w="1200", h="1200", fit="cover") == "up"  # needs 1800x1200
    assert source_for(w="1601") == "up"
    assert source_for(w="1600", h="100", fit="fill") == "preview.jpg"


def test_the_cropped_and_rotated_variant_is_never_a_source():
    # 1280x720 would be big enough for 1000x500, but it shows a different picture.
    assert source_for(original=(1920, 1080), w="1000", h="500", fit="fill") == "preview.jpg"
    assert source_for(original=(16000, 9000), w="1280") == "preview.jpg"


def test_a_variant_as_large_as_a_small_original_loses_to_the_original():
    assert source_for(original=(1200, 800), w="1000") == "up"
    assert source_for(original=(1200, 800), w="200") == "thumbnail.jpg"


# --- cold start -------------------------------------------------------------------------


def test_importing_renders_does_not_import_pillow():
    env = {
        **os.environ,
        "BUCKET_NAME": "b",
        "TABLE_NAME": "t",
        "USER_POOL_ID": "p",
        "APP_CLIENT_ID": "c",
    }
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import chalicelib.renders"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
    assert "chalicelib.renders" in imported
    pillow = [n for n in imported if n.split(".")[0] in ("PIL", "cykooz_resizer")]
    assert pillow == []
