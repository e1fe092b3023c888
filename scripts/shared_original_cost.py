"""Peak memory and CPU of the shared original (the copy without personal metadata that
everyone but the owner downloads) for worst cases of the formats it re-encodes: one fresh,
capped process per file, as scripts/limits.py measures the variants.

    .venv/bin/python scripts/shared_original_cost.py
"""

import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CAP = 2048 * 2**20  # handle_upload's memory setting; the bound is half of it
CASES = {
    "tiff-rgb-7071x7071.tif": ("RGB", (7071, 7071), (20, 30, 40)),
    "tiff-rgba-7071x7071.tif": ("RGBA", (7071, 7071), (20, 30, 40, 100)),
    "tiff-l-1x50000000.tif": ("L", (1, 50_000_000), 9),
    "tiff-rgb-1x20000000.tif": ("RGB", (1, 20_000_000), (1, 2, 3)),
    "gif-7071x7071.gif": ("P", (7071, 7071), 3),
}


def worker(path: str) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CAP, CAP))
    from chalicelib import imaging, metadata, settings
    from chalicelib.specs import DEFAULT_VARIANTS

    data = Path(path).read_bytes()
    started = time.process_time()
    probe = imaging.probe(
        data,
        allowed_formats=settings.ALL_INPUT_FORMATS,
        max_pixels=50_000_000,
        memory_budget=CAP // 2,
        specs=DEFAULT_VARIANTS,
    )
    copy, fmt = metadata.shared_copy(data, probe)
    cpu = time.process_time() - started
    status = Path("/proc/self/status").read_text()
    hwm = next(line for line in status.splitlines() if line.startswith("VmHWM")).split()[1]
    peak = int(hwm) // 1024
    print(f"{Path(path).name:26} -> {fmt:4} {len(copy):>9} B  {peak:>5} MB  {cpu:.1f} s CPU")


def main() -> None:
    from PIL import Image

    with tempfile.TemporaryDirectory() as folder:
        for name, (mode, size, colour) in CASES.items():
            path = os.path.join(folder, name)
            Image.new(mode, size, colour).save(path)
            subprocess.run([sys.executable, __file__, "--worker", path], cwd=ROOT, check=True)


if __name__ == "__main__":
    if sys.argv[1:2] == ["--worker"]:
        sys.path.insert(0, str(ROOT))
        worker(sys.argv[2])
    else:
        main()
