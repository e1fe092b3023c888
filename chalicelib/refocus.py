"""An owner's new focal point, and what it changes: the variants that crop (cover), re-made
from the original around it, and the cached renders, which are dropped (a cover render's
cache key names its focus, so none would be served again; the rest go with them, as for a
new version).

Runs in the API function when a PATCH sets `focus`; imports Pillow only then.
"""

from dataclasses import replace
from typing import Any

from chalicelib import blobs, settings
from chalicelib.errors import Conflict, Invalid
from chalicelib.images import Content, Focus, Variant
from chalicelib.specs import Fit


def parse(value: Any) -> Focus:
    """{"x": 0..1, "y": 0..1}, fractions of the width and height from the top left."""
    if not isinstance(value, dict) or set(value) != {"x", "y"}:
        raise Invalid('focus must be an object {"x": …, "y": …}')
    for name in ("x", "y"):
        number = value[name]
        if isinstance(number, bool) or not isinstance(number, int | float):
            raise Invalid(f"focus.{name} must be a number")
        if not 0 <= number <= 1:
            raise Invalid(f"focus.{name} must be from 0 to 1, not {number}")
    return Focus.of(float(value["x"]), float(value["y"]))


def refocused(image_id: str, content: Content | None, focus: Focus) -> Content:
    """The content with `focus`, its cover variants re-made and stored around it."""
    if content is None or content.knowledge is None:
        raise Conflict("the image has no processed content whose focus could be set")
    from chalicelib import imaging  # Pillow, only for this edit

    config = settings.get()
    covers = [spec for spec in config.variants if spec.fit is Fit.COVER]
    variants = dict(content.variants)
    if covers:
        data = blobs.read(content.key, config.max_upload_bytes)
        if data is None:
            raise Conflict("the image's original is gone; it cannot be cropped again")
        probe = imaging.probe(
            data, allowed_formats=config.allowed_formats, max_pixels=config.max_pixels
        )
        for encoded in imaging.make_variants(data, probe, covers, focus.point()):
            old = variants[encoded.name]
            blobs.write(old.key, encoded.data, encoded.content_type)
            variants[encoded.name] = Variant(
                old.key, encoded.width, encoded.height, len(encoded.data), encoded.format
            )
    blobs.delete_prefix(f"{blobs.RENDERS}{image_id}/")
    return replace(content, variants=variants, knowledge=replace(content.knowledge, focus=focus))
