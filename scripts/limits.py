"""Worst cases at the limits: what every accepted format and mode costs to process.

    .venv/bin/python scripts/limits.py                 every case, one table (docs/limits.md)
    .venv/bin/python scripts/limits.py --only png-     the cases whose name contains png-
    .venv/bin/python scripts/limits.py --json out.json also write the rows as JSON

Each case is generated once into .limits/ (flat pictures: the cost of decoding and resizing
depends on the size and mode, not the content, and flat ones stay under the upload limit),
then processed as the upload function does (imaging.probe, then imaging.make_variants with
the default specs) in a fresh process of this script (--worker) whose address space is
capped like the function's memory (RLIMIT_AS = MEMORY_MB, 2048 by default: stricter than
Lambda, which caps resident memory). The worker reports its peak resident memory (VmHWM
from /proc/self/status, imports included), its time and the verdict; a worker that dies is
reported as killed.
"""

import argparse
import io
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES_DIR = ROOT / ".limits"
MEMORY_MB = 2048
MAX_PIXELS = 50_000_000
SQUARE = 7071  # 7071² is just under 50 MP


def _png(mode: str, size: tuple[int, int], **options) -> Callable[[], bytes]:
    return lambda: _save(_flat(mode, size), "PNG", **options)


def _flat(mode: str, size: tuple[int, int]):
    from PIL import Image

    colours = {"1": 1, "L": 128, "P": 3, "I;16": 40000, "RGB": (200, 120, 40)}
    colours |= {"RGBA": (200, 120, 40, 128), "CMYK": (10, 80, 160, 20), "LA": (128, 128)}
    image = Image.new(mode, size, colours[mode])
    if mode == "P":
        image.info["transparency"] = 3
    return image


def _save(image, fmt: str, **options) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


def _frames(fmt: str, mode: str, size: tuple[int, int], count: int, **options):
    def make() -> bytes:
        first = _flat(mode, size)
        rest = [_flat(mode, size) for _ in range(count - 1)]
        return _save(first, fmt, save_all=True, append_images=rest, **options)

    return make


def _bmp_rle8(size: tuple[int, int]) -> Callable[[], bytes]:
    """An 8-bit RLE BMP (Pillow writes none): a few hundred bytes per row of runs."""

    def make() -> bytes:
        width, height = size
        row = b""
        left = width
        while left:
            run = min(255, left)
            row += bytes((run, 1))
            left -= run
        pixels = (row + b"\x00\x00") * height + b"\x00\x01"
        palette = b"".join(bytes((i, 255 - i, 128, 0)) for i in range(256))
        offset = 14 + 40 + len(palette)
        header = b"BM" + (offset + len(pixels)).to_bytes(4, "little") + b"\0\0\0\0"
        header += offset.to_bytes(4, "little")
        info = (40).to_bytes(4, "little") + width.to_bytes(4, "little", signed=True)
        info += height.to_bytes(4, "little", signed=True) + (1).to_bytes(2, "little")
        info += (8).to_bytes(2, "little") + (1).to_bytes(4, "little")  # BI_RLE8
        info += len(pixels).to_bytes(4, "little") + b"\0" * 8 + (256).to_bytes(4, "little")
        info += b"\0" * 4
        return header + info + palette + pixels

    return make


def cases() -> dict[str, Callable[[], bytes]]:
    square = (SQUARE, SQUARE)
    return {
        "png-L-1x50000000": _png("L", (1, 50_000_000)),
        "png-RGB-1x20000000": _png("RGB", (1, 20_000_000)),
        "png-RGB-1x50000000": _png("RGB", (1, 50_000_000)),
        "png-RGBA-50000000x1": _png("RGBA", (50_000_000, 1)),
        "png-RGBA-7071x7071": _png("RGBA", square),
        "png-16bit-grey-7071x7071": _png("I;16", square),
        "png-palette-alpha-7071x7071": _png("P", square),
        "png-1bit-7071x7071": _png("1", square),
        "jpeg-RGB-7071x7071": lambda: _save(_flat("RGB", square), "JPEG", quality=80),
        "jpeg-CMYK-7071x7071": lambda: _save(_flat("CMYK", square), "JPEG", quality=80),
        "jpeg-L-65500x763": lambda: _save(_flat("L", (65500, 763)), "JPEG", quality=80),
        "tiff-CMYK-7071x7071": lambda: _save(
            _flat("CMYK", square), "TIFF", compression="tiff_deflate"
        ),
        "tiff-16bit-grey-7071x7071": lambda: _save(
            _flat("I;16", square), "TIFF", compression="tiff_deflate"
        ),
        "tiff-RGBA-1x50000000": lambda: _save(
            _flat("RGBA", (1, 50_000_000)), "TIFF", compression="tiff_deflate"
        ),
        "tiff-3-pages-7071x7071": _frames("TIFF", "RGB", square, 3, compression="tiff_deflate"),
        "gif-7071x7071": lambda: _save(_flat("P", square), "GIF"),
        "gif-65535x762": lambda: _save(_flat("P", (65535, 762)), "GIF"),
        "gif-100-frames-7071x7071": _frames("GIF", "P", square, 100),
        "webp-lossless-RGBA-7071x7071": lambda: _save(_flat("RGBA", square), "WEBP", lossless=True),
        "webp-lossless-16383x3051": lambda: _save(
            _flat("RGB", (16383, 3051)), "WEBP", lossless=True
        ),
        "webp-3-frames-RGBA-7071x7071": _frames("WEBP", "RGBA", square, 3, lossless=True),
        "bmp-rle8-7071x7071": _bmp_rle8(square),
        "bmp-rle8-65535x762": _bmp_rle8((65535, 762)),
        "avif-RGBA-7071x7071": lambda: _save(_flat("RGBA", square), "AVIF", quality=50, speed=10),
        "heif-RGB-7071x7071": _heif(square),
    }


def _heif(size: tuple[int, int]) -> Callable[[], bytes]:
    def make() -> bytes:
        import pillow_heif

        pillow_heif.register_heif_opener()
        return _save(_flat("RGB", size), "HEIF", quality=50)

    return make


def _case_file(name: str, make: Callable[[], bytes]) -> Path:
    path = CASES_DIR / name
    if not path.exists():
        CASES_DIR.mkdir(exist_ok=True)
        path.write_bytes(make())
    return path


def worker(path: Path, memory_mb: int) -> dict:
    """Process one file as the upload function does, capped, and report what it cost."""
    limit = memory_mb * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    from chalicelib import imaging, settings
    from chalicelib.specs import DEFAULT_VARIANTS

    data = path.read_bytes()
    started = time.perf_counter()
    try:
        probe = imaging.probe(
            data,
            allowed_formats=settings.ALL_INPUT_FORMATS,
            max_pixels=MAX_PIXELS,
            **_budget(memory_mb),
        )
        imaging.make_variants(data, probe, DEFAULT_VARIANTS)
        verdict = "ready"
    except imaging.ImageRejected as rejected:
        verdict = f"failed: {rejected.code}"
    return {"verdict": verdict, "seconds": time.perf_counter() - started, "peakMb": _hwm_mb()}


def _budget(memory_mb: int) -> dict:
    """The memory budget argument, on code that has one (the 'before' table had none)."""
    import inspect

    from chalicelib import imaging
    from chalicelib.specs import DEFAULT_VARIANTS

    if "memory_budget" in inspect.signature(imaging.probe).parameters:
        return {"memory_budget": memory_mb * 1024 * 1024 // 2, "specs": DEFAULT_VARIANTS}
    return {}


def _hwm_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmHWM in /proc/self/status")


def measure(path: Path, memory_mb: int) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(path), "--memory-mb", str(memory_mb)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=900,
    )
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        return {"verdict": f"killed (exit {done.returncode}: {tail[:60]})", "seconds": None}
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", type=Path)
    parser.add_argument("--memory-mb", type=int, default=MEMORY_MB)
    parser.add_argument("--only", default="")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.memory_mb)))
        return 0
    rows = []
    print(f"cap RLIMIT_AS {args.memory_mb} MB; bound {args.memory_mb // 2} MB peak RSS")
    print("| case | file kB | peak RSS MB | seconds | verdict |")
    print("|---|---|---|---|---|")
    for name, make in cases().items():
        if args.only not in name:
            continue
        path = _case_file(name, make)
        row = {"case": name, "kB": path.stat().st_size // 1024, **measure(path, args.memory_mb)}
        rows.append(row)
        peak = f"{row['peakMb']:.0f}" if row.get("peakMb") else "-"
        seconds = f"{row['seconds']:.1f}" if row.get("seconds") is not None else "-"
        print(f"| {name} | {row['kB']} | {peak} | {seconds} | {row['verdict']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
