"""What knowing each upload costs (issue 22), per step, for `make bench`.

    .venv/bin/python scripts/bench_knowledge.py [--repeat N]    prints the table alone

Each image is decoded once as an upload is (imaging's decode at the scale the variants
need); then the steps that learn about it run on that decode, each timed alone, medians
of N runs: the glance (the decode box-reduced to 64 pixels a side), the placeholder and
colours, the fingerprint, the focal point. scripts/bench.py prints this table after its
own, and its `ours` column already includes these steps (imaging.make_upload). Times are
CPU ms of the thread (medians).
"""

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

REPEAT = 9
IMAGES = (
    "photo-20mp-kleiber.jpg",
    "art-24mp-painting.jpg",
    "png-rgba-15mp-patak.png",
    "small-coffee.png",
)


def _median_ms(step: Callable[[], Any], repeat: int) -> float:
    """CPU time, not wall time: each step is one thread of pure computation, and on a
    shared machine its wall time mostly measures the neighbours."""
    times = []
    for _ in range(repeat):
        started = time.thread_time()
        step()
        times.append((time.thread_time() - started) * 1000)
    return statistics.median(times)


def measure(folder: Path, repeat: int = REPEAT) -> list[dict[str, Any]]:
    from chalicelib import imaging
    from chalicelib.imaging import decoding, fingerprint, focus, geometry, knowing, placeholder
    from chalicelib.specs import DEFAULT_VARIANTS

    rows = []
    for name in IMAGES:
        path = folder / name
        if not path.exists():
            continue
        data = path.read_bytes()
        probe = imaging.probe(
            data, allowed_formats=frozenset({probe_format(data)}), max_pixels=10**8
        )
        source = probe.oriented_size
        shapes = [
            geometry.geometry(source, s.width, s.height, s.fit, s.rotate) for s in DEFAULT_VARIANTS
        ]
        working = decoding.decode(data, probe, geometry.needed_source_size(shapes, source))
        glance = knowing.glance(working.image)
        rows.append(
            {
                "image": name,
                "decoded": f"{working.image.width}x{working.image.height}",
                "glance_ms": _median_ms(partial(knowing.glance, working.image), repeat),
                "placeholder_ms": _median_ms(partial(placeholder.describe, glance), repeat),
                "fingerprint_ms": _median_ms(partial(fingerprint.dhash, glance), repeat),
                "focus_ms": _median_ms(partial(focus.focal_point, glance), repeat),
            }
        )
    return rows


def probe_format(data: bytes) -> str:
    from chalicelib import imaging

    found = imaging.sniff(data)
    assert found is not None
    return found


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| image | decoded | glance CPU ms | placeholder + colours | fingerprint | focus "
        "| all four |",
        "|" + "---|" * 7,
    ]
    for row in rows:
        steps = [row[k] for k in ("glance_ms", "placeholder_ms", "fingerprint_ms", "focus_ms")]
        cells = " | ".join(f"{value:.1f}" for value in steps)
        lines.append(f"| {row['image']} | {row['decoded']} | {cells} | {sum(steps):.1f} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    from tests.support.corpus import photos

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=REPEAT)
    args = parser.parse_args(argv)
    print(table(measure(photos(), args.repeat)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
