"""The shared image corpus: real photos from Debian's packages, fetched once into .corpus/."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SHARED_DIR", ROOT.parent / "shared"))
ORIENTATION = SHARED / "corpus" / "orientation"
PHOTOS = Path(os.environ.get("CORPUS_DIR", ROOT / ".corpus"))

EXPECTED = (
    "photo-20mp-kleiber.jpg",
    "photo-12mp-sunset.jpg",
    "photo-11mp-bridge.jpg",
    "photo-8mp-picos.jpg",
    "art-24mp-painting.jpg",
    "camera-fallenleaf.jpg",
    "camera-kite.jpg",
    "camera-storm.jpg",
    "png-rgba-15mp-patak.png",
    "webp-16mp-pixels.webp",
    "small-astronaut.png",
    "small-coffee.png",
    "animated-tiny.gif",
    "multipage.tif",
)


def photos() -> Path:
    """The folder of real photos, downloading them with get-photos.sh if they are missing."""
    if all((PHOTOS / name).exists() for name in EXPECTED):
        return PHOTOS
    script = SHARED / "corpus" / "get-photos.sh"
    if os.geteuid() == 0:
        subprocess.run(["apt-get", "update", "-qq"], check=False, capture_output=True)
    subprocess.run(["bash", str(script), str(PHOTOS)], check=True, capture_output=True)
    return PHOTOS
