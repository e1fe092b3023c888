"""Duplicate detection on a labelled set of real photos: precision and recall by distance.

    .venv/bin/python scripts/duplicates.py          prints the table (docs/knowledge.md)

The set is assembled from real photos (the corpus's, and scikit-image's sample photos from
Debian's python3-skimage, fetched once into .cache/duplicates/):

  same picture (should be found): each photo re-encoded at JPEG quality 40, resized to a
      half and to 800 px, converted to WebP, and with its EXIF stripped (the JPEG segments
      removed, pixels untouched);
  same scene, other picture (should not be found): the left and right photos of
      scikit-image's stereo motorcycle pair, and for each photo two views of it a camera
      pan apart (crops of 80 % of the frame, offset by 20 %);
  other pictures (should not be found): every pair of distinct photos.

Every hash is computed by imaging.make_upload from the file's bytes, as an upload is.
"""

import io
import itertools
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib import imaging, settings  # noqa: E402
from chalicelib.imaging import fingerprint  # noqa: E402
from tests.support.corpus import photos  # noqa: E402

CACHE = ROOT / ".cache" / "duplicates"
SKIMAGE = ("chelsea.png", "rocket.jpg", "motorcycle_left.png", "motorcycle_right.png")
CORPUS = (
    "photo-20mp-kleiber.jpg",
    "photo-12mp-sunset.jpg",
    "photo-11mp-bridge.jpg",
    "photo-8mp-picos.jpg",
    "camera-fallenleaf.jpg",
    "camera-kite.jpg",
    "camera-storm.jpg",
    "small-astronaut.png",
    "small-coffee.png",
    "png-rgba-15mp-patak.png",
)
THRESHOLDS = range(0, 13)


@dataclass(frozen=True)
class Pair:
    kind: str  # what the pair is (re-encoded, resized, ..., same scene, other photo)
    duplicate: bool  # the label: should it be found?
    a: int
    b: int

    @property
    def distance(self) -> int:
        return fingerprint.distance(self.a, self.b)


def skimage_photos() -> Path:
    if all((CACHE / name).exists() for name in SKIMAGE):
        return CACHE
    CACHE.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as work:
        subprocess.run(["apt-get", "download", "python3-skimage"], cwd=work, check=True)
        (deb,) = Path(work).glob("python3-skimage_*.deb")
        subprocess.run(["dpkg-deb", "-x", str(deb), f"{work}/x"], check=True)
        data = Path(work, "x/usr/lib/python3/dist-packages/skimage/data")
        for name in SKIMAGE:
            (CACHE / name).write_bytes((data / name).read_bytes())
    return CACHE


def hash_of(data: bytes) -> int:
    config = settings.Settings(
        bucket="b",
        table="t",
        region="us-east-1",
        user_pool_id="p",
        user_pool_arn="a",
        app_client_id="c",
    )
    probe = imaging.probe(
        data, allowed_formats=config.allowed_formats, max_pixels=config.max_pixels
    )
    return imaging.make_upload(data, probe, config.variants).knowledge.fingerprint


def _save(image: Image.Image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def strip_exif(data: bytes) -> bytes:
    """A JPEG without its APP1 (EXIF, XMP) segments: the entropy-coded pixels untouched."""
    if not data.startswith(b"\xff\xd8"):
        return data
    out, at = bytearray(b"\xff\xd8"), 2
    while at + 4 <= len(data) and data[at] == 0xFF and data[at + 1] not in (0xDA, 0xD9):
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if data[at + 1] != 0xE1:
            out += data[at : at + 2 + length]
        at += 2 + length
    return bytes(out + data[at:])


def copies(data: bytes) -> dict[str, bytes]:
    """The same picture, as it travels: re-encoded, resized, converted, stripped."""
    image = Image.open(io.BytesIO(data))
    image = image.convert("RGBA" if image.mode in ("RGBA", "P", "LA") else "RGB")
    flat = image.convert("RGB")
    half = flat.resize((flat.width // 2, flat.height // 2), Image.Resampling.LANCZOS)
    small = flat.copy()
    small.thumbnail((800, 800), Image.Resampling.LANCZOS)
    return {
        "re-encoded (JPEG q40)": _save(flat, "JPEG", quality=40),
        "resized to half": _save(half, "JPEG", quality=85),
        "resized to 800 px": _save(small, "JPEG", quality=85),
        "converted to WebP": _save(image, "WEBP", quality=80),
        "EXIF stripped": strip_exif(data) if data.startswith(b"\xff\xd8") else _save(flat, "PNG"),
    }


def pans(data: bytes) -> tuple[bytes, bytes]:
    """Two views of one scene a camera pan apart: 80 % crops, 20 % of the frame apart."""
    image = Image.open(io.BytesIO(data)).convert("RGB")
    width, height = image.size
    crop_w, crop_h = int(width * 0.8), int(height * 0.8)
    left = image.crop((0, 0, crop_w, crop_h))
    right = image.crop((width - crop_w, height - crop_h, width, height))
    return _save(left, "JPEG", quality=90), _save(right, "JPEG", quality=90)


def labelled_pairs() -> list[Pair]:
    corpus, extra = photos(), skimage_photos()
    files = {name: (corpus / name).read_bytes() for name in CORPUS}
    files |= {
        name: (extra / name).read_bytes() for name in SKIMAGE if name != "motorcycle_right.png"
    }
    hashes = {name: hash_of(data) for name, data in files.items()}
    pairs = []
    for name, data in files.items():
        for kind, copy in copies(data).items():
            pairs.append(Pair(kind, True, hashes[name], hash_of(copy)))
        first, second = pans(data)
        pairs.append(Pair("same scene: panned view", False, hash_of(first), hash_of(second)))
    right = hash_of((extra / "motorcycle_right.png").read_bytes())
    pairs.append(Pair("same scene: stereo pair", False, hashes["motorcycle_left.png"], right))
    for a, b in itertools.combinations(sorted(hashes), 2):
        pairs.append(Pair("other photo", False, hashes[a], hashes[b]))
    return pairs


def table(pairs: list[Pair]) -> str:
    lines = [
        "| kind | pairs | labelled | distances (min–max) |",
        "| --- | ---: | --- | --- |",
    ]
    for kind in dict.fromkeys(pair.kind for pair in pairs):
        group = [pair for pair in pairs if pair.kind == kind]
        found = sorted(pair.distance for pair in group)
        label = "duplicate" if group[0].duplicate else "not a duplicate"
        lines.append(f"| {kind} | {len(group)} | {label} | {found[0]}–{found[-1]} |")
    lines += [
        "",
        "| found within (bits) | true pos. | false pos. | false neg. | precision | recall |",
    ]
    lines.append("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for threshold in THRESHOLDS:
        hits = [pair for pair in pairs if pair.distance <= threshold]
        true = sum(pair.duplicate for pair in hits)
        false = len(hits) - true
        missed = sum(pair.duplicate and pair.distance > threshold for pair in pairs)
        precision = true / len(hits) if hits else 1.0
        recall = true / (true + missed)
        mark = " ← MAX_DISTANCE" if threshold == fingerprint.MAX_DISTANCE else ""
        lines.append(
            f"| {threshold}{mark} | {true} | {false} | {missed} | {precision:.3f} | {recall:.3f} |"
        )
    return "\n".join(lines)


def main() -> None:
    print(table(labelled_pairs()))


if __name__ == "__main__":
    main()
