"""Cover crops of real photos whose subject is off-centre keep it, with the focus found at
upload; the before (centre) and after (focus) crops are saved to test-artifacts/ to look at.

The subjects' boxes were marked by hand on the corpus photos (fractions of the picture)."""

import io

import pytest
from PIL import Image, ImageDraw

from chalicelib import imaging
from chalicelib.imaging import geometry
from chalicelib.specs import DEFAULT_VARIANTS, Fit, RenderSpec
from tests.support.corpus import ROOT, photos

ARTIFACTS = ROOT / "test-artifacts" / "focus"
# name: (left, top, right, bottom) of the subject, and a tall crop that loses it centred.
SUBJECTS = {
    "photo-20mp-kleiber.jpg": ((0.40, 0.34, 0.49, 0.66), (300, 1200)),  # the nuthatch
    "camera-fallenleaf.jpg": ((0.62, 0.28, 0.86, 0.62), (400, 800)),  # the sharp maple leaf
}


def _render(data: bytes, box: tuple[int, int], focus: tuple[float, float]) -> Image.Image:
    probe = imaging.probe(data, allowed_formats=frozenset({"jpeg"}), max_pixels=50_000_000)
    spec = RenderSpec(*box, Fit.COVER, 0, "jpeg", 85, focus)
    return Image.open(io.BytesIO(imaging.render(data, probe, spec).data))


def _kept(subject, box: tuple[int, int], focus, size: tuple[int, int]) -> float:
    """How much of the subject's width a tall cover crop centred on `focus` keeps."""
    shape = geometry.geometry(size, *box, Fit.COVER, 0, focus)
    assert shape.crop is not None
    left, right = shape.crop[0] / shape.scaled[0], shape.crop[2] / shape.scaled[0]
    overlap = max(0.0, min(right, subject[2]) - max(left, subject[0]))
    return overlap / (subject[2] - subject[0])


@pytest.mark.parametrize("name", sorted(SUBJECTS))
def test_a_tall_cover_crop_keeps_an_off_centre_subject_where_the_centre_crop_loses_it(name):
    data = (photos() / name).read_bytes()
    probe = imaging.probe(data, allowed_formats=frozenset({"jpeg"}), max_pixels=50_000_000)
    made = imaging.make_upload(data, probe, DEFAULT_VARIANTS)  # as an upload is made
    focus, (subject, box) = made.knowledge.focus, SUBJECTS[name]
    assert subject[0] <= focus[0] <= subject[2] and subject[1] <= focus[1] <= subject[3]
    size = probe.oriented_size
    assert _kept(subject, box, focus, size) == 1.0
    assert _kept(subject, box, geometry.CENTRE, size) < 0.8
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    before, after = _render(data, box, geometry.CENTRE), _render(data, box, focus)
    whole = Image.open(io.BytesIO(data))
    whole.draft("RGB", (1280, 1280))
    whole = whole.convert("RGB")
    whole.thumbnail((1280, 720))
    mark = ImageDraw.Draw(whole)
    x, y = focus[0] * whole.width, focus[1] * whole.height
    mark.ellipse((x - 12, y - 12, x + 12, y + 12), outline=(255, 0, 0), width=4)
    shown = (round(640 * box[0] / box[1]), 640)
    sheet = Image.new("RGB", (whole.width + 2 * shown[0] + 30, max(whole.height, 640)), "white")
    sheet.paste(whole, (0, 0))
    sheet.paste(before.resize(shown), (whole.width + 10, 0))  # centre
    sheet.paste(after.resize(shown), (whole.width + shown[0] + 20, 0))  # focus
    sheet.save(ARTIFACTS / f"{name.rsplit('.', 1)[0]}-centre-vs-focus.jpg", quality=85)
