"""The CPU one render costs, for the most expensive parameters a request may ask for.

    .venv/bin/python scripts/render_cost.py [photo ...]    (default: the corpus's 24 MP
                                                            and 20 MP photos)

Each case goes through renders.plan, so what the service refuses is shown as refused, and
what it allows is made by imaging.render from the original (the worst source) and timed in
CPU seconds (user + system of this process, every encoder thread included: a Lambda of
1536 MB has about one vCPU, so CPU time is close to the time a request waits).
"""

import argparse
import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from chalicelib import imaging, renders, settings  # noqa: E402
from chalicelib.errors import ServiceError  # noqa: E402
from chalicelib.specs import Fit  # noqa: E402

PHOTOS = (ROOT / ".corpus" / "art-24mp-painting.jpg", ROOT / ".corpus" / "photo-20mp-kleiber.jpg")
CASES = (
    ("w=4096&h=4096&fit=fill&format=avif&q=100", (4096, 4096, Fit.FILL, 0, "avif", 100)),
    ("w=4096&h=4096&fit=fill&format=avif&q=90", (4096, 4096, Fit.FILL, 0, "avif", 90)),
    ("w=2048&h=2048&fit=fill&format=avif&q=90&rotate=90", (2048, 2048, Fit.FILL, 90, "avif", 90)),
    ("w=2048&h=2048&fit=cover&format=avif&q=90", (2048, 2048, Fit.COVER, 0, "avif", 90)),
    ("w=4096&h=4096&fit=fill&format=webp&q=100", (4096, 4096, Fit.FILL, 0, "webp", 100)),
    ("w=4096&h=4096&fit=cover&format=png&rotate=270", (4096, 4096, Fit.COVER, 270, "png", None)),
    ("w=4096&h=4096&fit=fill&format=jpeg&q=100", (4096, 4096, Fit.FILL, 0, "jpeg", 100)),
    ("w=4096&format=webp&q=100 (contain)", (4096, None, Fit.CONTAIN, 0, "webp", 100)),
)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", nargs="*", type=Path, default=list(PHOTOS))
    config = settings.Settings(
        bucket="b", table="t", region="r", user_pool_id="p", user_pool_arn="a", app_client_id="c"
    )
    worst = 0.0
    for photo in parser.parse_args().photos:
        data = photo.read_bytes()
        probe = imaging.probe(data, allowed_formats=settings.ALL_INPUT_FORMATS, max_pixels=10**9)
        print(f"{photo.name} ({probe.width}x{probe.height})")
        for label, (w, h, fit, rotate, fmt, q) in CASES:
            asked = renders.Params(w, h, fit, rotate, fmt, q)
            try:
                spec = renders.plan(
                    renders.validate(asked, config), fmt, probe.oriented_size, config.max_pixels
                )
            except ServiceError as refused:
                print(f"  {label:52} refused: {refused}")
                continue
            started = cpu_seconds()
            encoded = imaging.render(data, probe, spec)
            spent = cpu_seconds() - started
            worst = max(worst, spent)
            print(f"  {label:52} {spent:5.2f} s CPU  {len(encoded.data):>10,} bytes")
    print(f"worst allowed render: {worst:.2f} s CPU")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
