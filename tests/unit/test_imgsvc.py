"""imgsvc's pieces that need no service: what it prints and the upload body it streams."""

import re

from imgsvc.cli import printable
from imgsvc.client import _Multipart


def test_control_characters_in_names_are_printed_as_escapes_not_sent_to_the_terminal():
    shown = printable("a\x1b[2Jb\u202e\nnext line")
    assert "\x1b" not in shown
    assert "\u202e" not in shown
    assert shown == "a\\x1b[2Jb\\u202e\nnext line"


def test_the_streamed_upload_body_is_the_form_fields_then_the_file_and_its_length_is_exact(
    tmp_path,
):
    path = tmp_path / "photo.jpg"
    path.write_bytes(b"x" * 200_000)
    seen: list[int] = []
    body = _Multipart({"key": "uploads/a/b", "policy": "p"}, path, "image/jpeg", seen.append)
    data = b""
    while chunk := body.read(8192):
        data += chunk
    assert len(data) == len(body)
    boundary = re.search(r"boundary=(\w+)", body.content_type).group(1)
    parts = data.split(f"--{boundary}".encode())
    assert b'name="key"' in parts[1] and b'name="policy"' in parts[2]
    assert b'name="file"; filename="photo.jpg"' in parts[3]
    assert parts[3].endswith(b"x" * 200_000 + b"\r\n")
    assert seen[-1] == 200_000
