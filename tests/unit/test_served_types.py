"""Every format the service accepts is served with a media type and download extension of its
own (a format missing from the served tables made its upload fail with a KeyError after it was
validated, at the step that stores the shared original)."""

import pytest

from chalicelib import blobs, settings
from chalicelib.imaging import formats


@pytest.mark.parametrize("fmt", sorted(settings.ALL_INPUT_FORMATS))
def test_every_accepted_format_has_a_served_type_and_an_extension(fmt):
    assert formats.named(fmt).media_type.startswith("image/")
    assert blobs.download_name("upload", fmt) == f"upload.{formats.named(fmt).extension}"


def test_a_favicon_downloads_as_an_icon():
    assert blobs.download_name("favicon.ico", "ico") == "favicon.ico"
    assert formats.named("ico").media_type == "image/vnd.microsoft.icon"
