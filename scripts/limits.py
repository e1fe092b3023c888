"""Worst cases at the limits: what every accepted format and mode costs to process.

    .venv/bin/python scripts/limits.py                 every case, one table (docs/limits.md)
    .venv/bin/python scripts/limits.py --only png-     the cases whose name contains png-
    .venv/bin/python scripts/limits.py --json out.json also write the rows as JSON
    .venv/bin/python scripts/limits.py --corpus LIST   every file named in LIST (one path a
                                                       line), then counts by verdict and
                                                       the worst memory and time
    .venv/bin/python scripts/limits.py --hostile DIR --from LIST
                                                       write damaged copies of LIST's files

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
    """Frames that differ (a dot moves), so no encoder folds them into one."""

    def make() -> bytes:
        frames = [_flat(mode, size) for _ in range(count)]
        for index, frame in enumerate(frames):
            frame.putpixel((index, index), 0 if mode in ("P", "L") else (0,) * len(mode))
        return _save(frames[0], fmt, save_all=True, append_images=frames[1:], **options)

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
        "png-RGBA-1x50000000": _png("RGBA", (1, 50_000_000)),
        "png-LA-7071x7071": _png("LA", square),
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
        "gif-50-frames-7071x7071": _frames("GIF", "P", square, 50),
        "webp-lossless-RGBA-7071x7071": lambda: _save(_flat("RGBA", square), "WEBP", lossless=True),
        "webp-lossless-16383x3051": lambda: _save(
            _flat("RGB", (16383, 3051)), "WEBP", lossless=True
        ),
        "webp-3-frames-RGBA-7071x7071": _frames("WEBP", "RGBA", square, 3, lossless=True),
        "bmp-rle8-7071x7071": _bmp_rle8(square),
        "bmp-rle8-65535x762": _bmp_rle8((65535, 762)),
        "avif-RGBA-7071x7071": lambda: _save(_flat("RGBA", square), "AVIF", quality=50, speed=10),
        "heif-RGB-7071x7071": _heif(square),
        "ico-RGBA-256x256": lambda: _save(_flat("RGBA", (256, 256)), "ICO", sizes=[(256, 256)]),
        # Uncompressed, so the 25 MB upload limit is what bounds it.
        "dib-RGB-2880x2880": lambda: _save(_flat("RGB", (2880, 2880)), "BMP")[14:],
    }


def _heif(size: tuple[int, int]) -> Callable[[], bytes]:
    def make() -> bytes:
        import pillow_heif

        pillow_heif.register_heif_opener()
        return _save(_flat("RGB", size), "HEIF", quality=50)

    return make


def case_file(name: str, folder: Path = CASES_DIR) -> Path:
    """The generated file of one case, made on first use."""
    path = folder / name
    if not path.exists():
        folder.mkdir(exist_ok=True)
        path.write_bytes(cases()[name]())
    return path


def worker(path: Path, memory_mb: int, budget: bool = True) -> dict:
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
            **(_budget(memory_mb) if budget else {}),
        )
        estimate = getattr(imaging, "estimate_memory", None)
        estimated = estimate(probe, DEFAULT_VARIANTS) / 2**20 if estimate else None
        imaging.make_variants(data, probe, DEFAULT_VARIANTS)
        verdict = "ready"
    except imaging.Rejected as rejected:
        verdict, estimated = f"failed: {rejected.code}", None
    seconds = time.perf_counter() - started
    return {"verdict": verdict, "seconds": seconds, "peakMb": _hwm_mb(), "estimateMb": estimated}


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


def measure(path: Path, memory_mb: int = MEMORY_MB, budget: bool = True) -> dict:
    """The cost of one file, in a fresh capped worker process."""
    flags = [] if budget else ["--no-budget"]
    done = subprocess.run(
        [sys.executable, __file__, "--worker", str(path), "--memory-mb", str(memory_mb), *flags],
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
    parser.add_argument("--no-budget", action="store_true", help="worker: no memory budget")
    parser.add_argument("--only", default="")
    parser.add_argument("--corpus", type=Path)
    parser.add_argument("--hostile", type=Path)
    parser.add_argument("--from", dest="sources", type=Path)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args.worker, args.memory_mb, budget=not args.no_budget)))
        return 0
    if args.hostile:
        return make_hostile(args.sources, args.hostile)
    if args.corpus:
        return run_corpus(args.corpus, args.memory_mb, args.json)
    rows = []
    print(f"cap RLIMIT_AS {args.memory_mb} MB; bound {args.memory_mb // 2} MB peak RSS")
    print("| case | file kB | estimate MB | peak RSS MB | seconds | verdict |")
    print("|---|---|---|---|---|---|")
    for name in cases():
        if args.only not in name:
            continue
        path = case_file(name)
        measured = measure(path, args.memory_mb, budget=not args.no_budget)
        row = {"case": name, "kB": path.stat().st_size // 1024, **measured}
        rows.append(row)
        cells = [
            _figure(row.get("estimateMb"), "{:.0f}"),
            _figure(row.get("peakMb"), "{:.0f}"),
            _figure(row.get("seconds"), "{:.1f}"),
        ]
        print(f"| {name} | {row['kB']} | {' | '.join(cells)} | {row['verdict']} |", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return 0


def make_hostile(sources: Path, folder: Path) -> int:
    """Damaged copies of real files, as hostile uploads are: truncated at three points, with
    bytes overwritten in the header and in the body (seeded: the same set every run)."""
    import random

    folder.mkdir(parents=True, exist_ok=True)
    chance = random.Random(17)
    for number, line in enumerate(sources.read_text().splitlines()):
        data = Path(line).read_bytes()
        if len(data) < 64:
            continue
        for share in (0.1, 0.5, 0.9):
            (folder / f"{number}-cut{int(share * 100)}").write_bytes(data[: int(len(data) * share)])
        for name, span in (("head", (8, min(len(data), 256))), ("body", (0, len(data)))):
            damaged = bytearray(data)
            for _ in range(16):
                damaged[chance.randrange(*span)] = chance.randrange(256)
            (folder / f"{number}-{name}").write_bytes(bytes(damaged))
    return 0


def run_corpus(listing: Path, memory_mb: int, out: Path | None) -> int:
    from collections import Counter

    rows = []
    for line in listing.read_text().splitlines():
        measured = measure(Path(line), memory_mb)
        rows.append({"file": line, **measured})
    verdicts = Counter(row["verdict"] for row in rows)
    measured_rows = [row for row in rows if row.get("peakMb")]
    worst_memory = max(measured_rows, key=lambda row: row["peakMb"])
    worst_time = max(measured_rows, key=lambda row: row["seconds"])
    print(f"{len(rows)} files, cap RLIMIT_AS {memory_mb} MB")
    for verdict, count in verdicts.most_common():
        print(f"  {count:5d}  {verdict}")
    print(f"worst peak RSS {worst_memory['peakMb']:.0f} MB: {worst_memory['file']}")
    print(f"worst time {worst_time['seconds']:.2f} s: {worst_time['file']}")
    if out:
        out.write_text(json.dumps(rows, indent=2))
    return 0


def _figure(value: float | None, form: str) -> str:
    return "-" if value is None else form.format(value)


if __name__ == "__main__":
    sys.exit(main())
