"""Renders end to end over real HTTP on real photos: sizes, fits, rotation, formats chosen
from real browsers' Accept headers, the S3 cache, refusals and access."""

import io
import time
from urllib.parse import unquote, urlparse

import pytest
import requests
from PIL import Image, ImageChops, ImageOps, ImageStat

from tests.support import corpus, pictures
from tests.support.localstack import upload, wait_until_done

pytestmark = pytest.mark.e2e

JPEG = "photo-20mp-kleiber.jpg"
PNG = "png-rgba-15mp-patak.png"
ACCEPT = {
    "chrome": "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8",
    "firefox": "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
    "safari": "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,"
    "image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5",
    "curl": "*/*",
}
CACHE_CONTROL = "public, max-age=31536000, immutable"


class Photo:
    def __init__(self, stack, name: str, content_type: str):
        path = corpus.photos() / name
        created = upload(stack, "demo", path.read_bytes(), filename=name, content_type=content_type)
        self.record = wait_until_done(stack, "demo", created["id"], timeout=60)
        assert self.record["status"] == "ready", self.record.get("failure")
        self.id = self.record["id"]
        self.original = ImageOps.exif_transpose(Image.open(path)).convert("RGB")


@pytest.fixture(scope="module")
def photos(stack):
    return {
        JPEG: Photo(stack, JPEG, "image/jpeg"),
        PNG: Photo(stack, PNG, "image/png"),
    }


@pytest.fixture(scope="module")
def kleiber(photos):
    return photos[JPEG]


def render(stack, image_id: str, user: str = "demo", accept: str | None = None, **params):
    headers = {"Accept": accept} if accept else {}
    return stack.call("GET", f"/images/{image_id}/render", user, params=params, headers=headers)


def fetched(stack, image_id: str, **params) -> tuple[Image.Image, str]:
    """The rendered picture and its S3 key, following the redirect as a browser would."""
    response = render(stack, image_id, **params)
    assert response.status_code == 307, response.text
    body = requests.get(response.headers["Location"], timeout=30)
    assert body.status_code == 200
    picture = Image.open(io.BytesIO(body.content))
    picture.load()
    return picture, key_of(response)


def key_of(response) -> str:
    return unquote(urlparse(response.headers["Location"]).path).split("/", 2)[2]


def renders_of(stack, image_id: str) -> dict[str, str]:
    """Every stored render of the image: key → ETag."""
    listed = stack.client("s3").list_objects_v2(
        Bucket=stack.state["bucket"], Prefix=f"renders/{image_id}/"
    )
    return {item["Key"]: item["ETag"] for item in listed.get("Contents", [])}


def mean_difference(a: Image.Image, b: Image.Image) -> float:
    a, b = a.convert("RGB"), b.convert("RGB")
    assert a.size == b.size
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.mark.parametrize("name", [JPEG, PNG])
@pytest.mark.parametrize(
    ("fit", "box"),
    [("contain", (800, 800)), ("cover", (640, 480)), ("fill", (500, 700))],
)
def test_each_fit_gives_the_right_size_format_and_picture(stack, photos, name, fit, box):
    photo = photos[name]
    fmt = "png" if name == PNG else "webp"
    got, key = fetched(stack, photo.id, w=box[0], h=box[1], fit=fit, format=fmt)
    assert got.format == fmt.upper()
    assert key.endswith(f".{fmt}")
    if fit == "contain":
        reference = ImageOps.contain(photo.original, box, Image.Resampling.LANCZOS)
        assert max(got.size) == 800
        assert abs(got.width / got.height - photo.original.width / photo.original.height) < 0.01
    elif fit == "cover":
        reference = pictures.cover_at(photo.original, box, photo.record["focus"])
    else:
        reference = photo.original.resize(box, Image.Resampling.LANCZOS)
    assert got.size == reference.size
    assert mean_difference(got, reference) < 4


@pytest.mark.parametrize(
    ("rotate", "turn"),
    [
        ("90", Image.Transpose.ROTATE_270),  # Pillow's turns are counter-clockwise
        ("180", Image.Transpose.ROTATE_180),
        ("270", Image.Transpose.ROTATE_90),
    ],
)
def test_rotation_turns_the_render_clockwise(stack, kleiber, rotate, turn):
    got, _ = fetched(stack, kleiber.id, w=600, rotate=rotate, format="png")
    upright = ImageOps.contain(kleiber.original, (600, 600), Image.Resampling.LANCZOS)
    reference = upright.transpose(turn)
    assert got.size == reference.size
    assert mean_difference(got, reference) < 4
    # The opposite turn is clearly worse, so the comparison can tell directions apart.
    opposite = reference.transpose(Image.Transpose.ROTATE_180)
    assert mean_difference(got, opposite) > mean_difference(got, reference) + 10


def test_the_redirect_varies_on_accept_and_the_render_is_immutable(stack, kleiber):
    response = render(stack, kleiber.id, w=320, accept=ACCEPT["chrome"])
    assert response.status_code == 307
    assert response.headers["Vary"] == "Accept"
    head = stack.client("s3").head_object(Bucket=stack.state["bucket"], Key=key_of(response))
    assert head["CacheControl"] == CACHE_CONTROL
    assert head["ContentType"] == "image/avif"


def renders_made(stack, key: str, *, at_least: int = 0) -> int:
    """How many `render_made` lines the server logged for this key (waiting briefly for
    the ones it has already written to come through its stdout)."""
    deadline = time.monotonic() + 5
    while True:
        made = sum('"render_made"' in line and key in line for line in list(stack.output))
        if made >= at_least or time.monotonic() > deadline:
            return made
        time.sleep(0.05)


def test_a_second_identical_request_renders_nothing(stack, kleiber):
    first = render(stack, kleiber.id, w=700, h=300, fit="cover", format="jpeg")
    assert first.status_code == 307
    key = key_of(first)
    assert renders_made(stack, key, at_least=1) == 1
    stored = renders_of(stack, kleiber.id)
    second = render(stack, kleiber.id, w=700, h=300, fit="cover", format="jpeg")
    assert second.status_code == 307
    assert key_of(second) == key
    assert renders_of(stack, kleiber.id) == stored
    time.sleep(0.5)  # a second render's line would be through by now
    assert renders_made(stack, key) == 1


def test_equivalent_parameter_orders_redirect_to_the_same_render(stack, kleiber):
    keys = {
        key_of(stack.call("GET", f"/images/{kleiber.id}/render?{query}", "demo"))
        for query in (
            "w=500&h=400&fit=cover&format=webp&rotate=0",
            "rotate=0&format=webp&fit=cover&h=400&w=500",
            "fit=Cover&format=WEBP&w=500&h=0400&q=80",
        )
    }
    assert len(keys) == 1


@pytest.mark.parametrize(
    ("browser", "expected"),
    [("chrome", "AVIF"), ("firefox", "AVIF"), ("safari", "AVIF"), ("curl", "JPEG")],
)
def test_each_browser_gets_the_best_format_it_accepts(stack, kleiber, browser, expected):
    response = render(stack, kleiber.id, w=240, accept=ACCEPT[browser])
    assert response.status_code == 307
    body = requests.get(response.headers["Location"], timeout=30).content
    assert Image.open(io.BytesIO(body)).format == expected


def test_webp_is_chosen_when_avif_is_refused(stack, kleiber):
    response = render(stack, kleiber.id, w=240, accept="image/avif;q=0,image/webp,*/*")
    body = requests.get(response.headers["Location"], timeout=30).content
    assert Image.open(io.BytesIO(body)).format == "WEBP"


@pytest.mark.parametrize(
    ("query", "named"),
    [
        ("w=100&width=100", "width"),
        ("w=0", "w"),
        ("w=4097", "w"),
        ("w=ten", "w"),
        ("h=-3", "h"),
        ("h=", "h"),
        ("w=100&fit=squash", "fit"),
        ("w=100&fit=cover", "fit"),
        ("w=100&rotate=45", "rotate"),
        ("w=100&format=bmp", "format"),
        ("w=100&q=0", "q"),
        ("w=100&q=101", "q"),
        ("fit=contain", "w or h"),
    ],
)
def test_every_invalid_parameter_is_a_400_naming_it(stack, kleiber, query, named):
    response = stack.call("GET", f"/images/{kleiber.id}/render?{query}", "demo")
    assert response.status_code == 400, response.text
    assert named in response.json()["Message"]


def test_nobody_else_can_render_the_image_but_an_admin_can(stack, kleiber):
    if "outsider" not in stack.state["users"]:
        stack.create_user("outsider")
    assert render(stack, kleiber.id, "outsider", w=100).status_code == 404
    assert render(stack, kleiber.id, "admin", w=100).status_code == 307


def test_an_image_not_yet_uploaded_is_a_409(stack):
    created = stack.call(
        "POST", "/images", "demo", json={"filename": "x.jpg", "contentType": "image/jpeg"}
    )
    assert render(stack, created.json()["image"]["id"], w=100).status_code == 409


def test_an_external_system_renders_with_an_api_key(stack, kleiber):
    issued = stack.call("POST", "/admin/api-keys", "admin", json={"name": "renders-e2e"})
    assert issued.status_code == 201
    path = f"/images/{kleiber.id}/render"
    response = stack.call(
        "GET",
        f"/external{path}",
        params={"w": 200, "format": "png"},
        headers={"X-Api-Key": issued.json()["secret"]},
    )
    assert response.status_code == 307, response.text
    # A named format is the same answer whatever the client accepts: no Vary to split on.
    assert "Vary" not in response.headers
    own = render(stack, kleiber.id, w=200, format="png")
    assert key_of(response) == key_of(own)
    body = requests.get(response.headers["Location"], timeout=30).content
    width, height = kleiber.original.size
    assert Image.open(io.BytesIO(body)).size == (200, round(height * 200 / width))


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"w": "4096", "h": "4096", "fit": "fill", "format": "avif", "q": "100"}, 400, "1 to 90"),
        ({"w": "4096", "h": "4096", "fit": "fill", "format": "avif"}, 422, "at most 4,194,304"),
        ({"w": "4096", "format": "avif", "q": "90"}, 422, "at most 4,194,304"),
    ],
)
def test_a_render_that_would_cost_too_much_is_refused_saying_why(
    stack, kleiber, params, status, says
):
    # The probe: w=4096&h=4096&fit=fill&format=avif&q=100 took 20-30 s of a 29 s limit.
    response = render(stack, kleiber.id, **params)
    assert response.status_code == status, response.text
    assert says in response.json()["Message"]


def test_a_small_image_is_never_stretched_to_a_huge_render(stack):
    small = io.BytesIO()
    Image.new("RGB", (64, 48), (10, 200, 30)).save(small, "PNG")
    created = upload(stack, "demo", small.getvalue(), filename="s.png", content_type="image/png")
    image_id = wait_until_done(stack, "demo", created["id"])["id"]
    response = render(stack, image_id, w="4096", h="4096", fit="fill", format="avif", q="90")
    assert response.status_code == 422, response.text
    assert "never upscale" in response.json()["Message"]
